//! appenv-migrate: under construction.
