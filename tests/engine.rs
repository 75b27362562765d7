//! Engine lifecycle tests (being written).
