//! Scenario files for dsim: TOML to a validated Scenario, with errors at file:line:col
