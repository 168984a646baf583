//! `dsim report <run-dir>`: redraws a run directory's report (index.html, summary.md,
//! metrics.csv, plots/) from its `run.json`, without simulating again.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;

use crate::Failure;

#[derive(Args)]
pub struct ReportArgs {
    /// A run directory written by `dsim run` (it holds run.json).
    pub dir: PathBuf,
    /// Also write each plot as PNG (plots/*.png).
    #[arg(long)]
    pub png: bool,
}

pub fn report(a: ReportArgs) -> Result<i32, Failure> {
    let data = dsim_report::read_run_dir(&a.dir).map_err(|e| anyhow!(e))?;
    let mut written = dsim_report::render_dir(&a.dir, &data)
        .map_err(|e| anyhow!("writing the report in {}: {e}", a.dir.display()))?;
    if a.png {
        written.extend(
            dsim_report::write_pngs(&a.dir)
                .map_err(|e| anyhow!("writing PNG plots in {}: {e}", a.dir.display()))?,
        );
    }
    eprintln!(
        "report: {} ({} files, from run.json: {} seed {}, {})",
        a.dir.join("index.html").display(),
        written.len(),
        data.name,
        data.seed,
        data.verdict
    );
    Ok(0)
}
