//! Reading a user's file with a bound on its size.
