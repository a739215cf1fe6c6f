//! appenv-observability: under construction.
