//! Folders and files beneath a folder the user named, opened one component at a time without following links.
