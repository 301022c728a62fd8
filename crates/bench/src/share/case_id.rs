//! What names a real-data case in its results and its table row: the
//! scenario, its ranks, and how mpitorrent ran (the strategy and window as
//! asked and as its reports say, the write mode). Every real-data result
//! (`case`, `start`, `rerun`) carries one, flattened into its JSON.

use super::ShareKind;
use crate::runner::{window_label, Settings};
use mpitorrent_core::report::RunReport;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct CaseId {
    pub scenario: String,
    pub ranks: u32,
    /// As asked (`null`: mpitorrent's default) and as the reports say.
    pub strategy_requested: Option<String>,
    pub strategy: Option<String>,
    pub window_requested: Option<u32>,
    pub window: Option<u32>,
    /// `share --direct`.
    pub direct: bool,
}

impl CaseId {
    pub fn new(kind: ShareKind, settings: Settings) -> CaseId {
        CaseId {
            scenario: kind.name().to_string(),
            ranks: kind.ranks(),
            strategy_requested: settings.strategy.map(|s| s.to_string()),
            strategy: None,
            window_requested: settings.window,
            window: None,
            direct: settings.direct,
        }
    }

    /// Takes the strategy and window that `report` says mpitorrent used.
    pub fn used(&mut self, report: &RunReport) {
        self.strategy = Some(report.settings.strategy.clone());
        self.window = Some(report.settings.window);
    }

    /// "<scenario> -np <ranks> <settings>", for progress and failures.
    pub fn label(kind: ShareKind, settings: Settings) -> String {
        format!("{} -np {} {}", kind.name(), kind.ranks(), settings.label())
    }

    /// The scenario with " --direct" if it wrote so: the verdict lines'
    /// name of the case.
    pub fn verdict_name(&self) -> String {
        let writes = if self.direct { " --direct" } else { "" };
        format!("{}{writes}", self.scenario)
    }

    /// The cells of a table row that name the case: scenario, np,
    /// strategy, window, writes.
    pub fn cells(&self) -> Vec<String> {
        let strategy = (self.strategy.clone())
            .or_else(|| self.strategy_requested.clone())
            .unwrap_or_else(|| "default".to_string());
        let window = self
            .window
            .map_or_else(|| window_label(self.window_requested), |w| w.to_string());
        vec![
            self.scenario.clone(),
            self.ranks.to_string(),
            strategy,
            window,
            if self.direct { "direct" } else { "page cache" }.to_string(),
        ]
    }
}

/// "OK" or "NOT MET": how a verdict line judges a number.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "OK"
    } else {
        "NOT MET"
    }
}
