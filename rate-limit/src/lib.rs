//! appenv-rate-limit: under construction.
