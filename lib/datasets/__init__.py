"""The lab's built-in, generated data sets (no TensorFlow): the seeds' stand-ins."""
