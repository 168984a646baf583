//! Run reports for dsim
