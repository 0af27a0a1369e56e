"""Study-specific code: each module serves one family of reports (its arms, data, checks and
claims); the shared machinery (training, backbones, the claims contract, records) stays in ``lib/``.

- ``d1_d2``: seed 003, D1 -> D2 against a re-initialised control
- ``signs``: seed 001, traffic signs across a country shift (classifier); ``sign_detector``: its detector study
- ``plates``: seed 000, license plates with seven character heads (EfficientNetB0, or the 2-core plate_cnn)
- ``cut_search``: seed 002, where to cut InceptionV3 (keras-tuner)
- ``transferability``: Yosinski's curve, LogME and the linear probe
"""
