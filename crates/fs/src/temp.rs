//! Exclusive, unpredictable temporary files, renamed into place when complete.
