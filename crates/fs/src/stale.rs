//! Temporaries a killed run left behind: recognised by their pattern and removed only when no live process holds them.
