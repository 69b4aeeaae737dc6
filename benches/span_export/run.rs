//! One variant's result in one round, as the parent read it, and the figures the table
//! takes from it.

use serde_json::Value;

/// One variant's result in one round.
pub struct Run {
    pub variant: String,
    pub round: u64,
    /// Spans delivered in the window: counted at the receiver, or encoded for `encode_only`.
    pub spans: u64,
    pub wall_s: f64,
    /// The child's CPU over the window.
    pub cpu_s: f64,
    /// The parent's (the receiver's) CPU over the window.
    pub receiver_cpu_s: f64,
    /// The machine's busy CPU over the window, all processes (this run's included).
    pub machine_cpu_s: f64,
    /// What the child reported.
    pub child: Value,
    /// Spans the receiver counted from this child from its start to its exit.
    pub received_total: u64,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.spans as f64 / self.wall_s.max(1e-9)
    }
    /// The span producers' CPU (the pipeline variants only): span creation, not export.
    fn producer_cpu_s(&self) -> f64 {
        self.child["producer_cpu_s"].as_f64().unwrap_or(0.0)
    }
    /// The exporting side's CPU a delivered span: the child's, less its span producers.
    pub fn cpu_ns(&self) -> f64 {
        (self.cpu_s - self.producer_cpu_s()) * 1e9 / self.spans.max(1) as f64
    }
    /// The whole child process, producers included.
    pub fn cores(&self) -> f64 {
        self.cpu_s / self.wall_s.max(1e-9)
    }
    pub fn producer_cores(&self) -> f64 {
        self.producer_cpu_s() / self.wall_s.max(1e-9)
    }
    /// Cores that processes other than this benchmark's took during the window: a run
    /// with more than a few tenths was disturbed.
    pub fn others_cores(&self) -> f64 {
        let ours = self.cpu_s + self.receiver_cpu_s;
        (self.machine_cpu_s - ours).max(0.0) / self.wall_s.max(1e-9)
    }
    pub fn receiver_ns(&self) -> f64 {
        self.receiver_cpu_s * 1e9 / self.spans.max(1) as f64
    }
    pub fn brief(&self) -> String {
        format!(
            "{:>10.0} spans/s  {:>7.0} ns CPU/span  {:.2} cores  receiver {:.0} ns/span  \
             others {:.2} cores  {}",
            self.per_second(),
            self.cpu_ns(),
            self.cores(),
            self.receiver_ns(),
            self.others_cores(),
            self.child
        )
    }
}
