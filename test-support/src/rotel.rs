//! rotel, a real OTLP receiver, on loopback ports.

use super::*;

/// rotel-agent with a blackhole exporter and the detailed debug dump of traces,
/// metrics and logs on stdout, which the accessors below parse.
pub struct Rotel {
    pub grpc_port: u16,
    pub http_port: u16,
    pub proc: Proc,
    // Its pid and log files; after `proc` so rotel is dead before removal.
    _dir: TempDir,
}

impl Rotel {
    pub fn start() -> Rotel {
        let agent = rotel_agent();
        let dir = TempDir::new("rotel-agent-files");
        let (proc, (grpc_port, http_port)) = start_server(
            "rotel-agent",
            || {
                let grpc = free_port();
                let http = loop {
                    let port = free_port();
                    if port != grpc {
                        break port;
                    }
                };
                let mut cmd = Command::new(&agent);
                cmd.arg("start").args(["--exporter", "blackhole"]);
                for signal in ["traces", "metrics", "logs"] {
                    cmd.args(["--debug-log", signal]);
                }
                cmd.args(["--debug-log-verbosity", "detailed"])
                    .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
                    .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
                    // The defaults are fixed paths in /tmp that parallel agents would share.
                    .arg("--pid-file")
                    .arg(dir.join("rotel.pid"))
                    .arg("--log-file")
                    .arg(dir.join("rotel.log"));
                (Proc::spawn(cmd, "rotel-agent"), (grpc, http))
            },
            |&(grpc, http)| listening(grpc) && listening(http),
        );
        Rotel {
            grpc_port,
            http_port,
            proc,
            _dir: dir,
        }
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Everything rotel printed so far, ANSI colour codes removed.
    pub fn output(&self) -> String {
        self.proc.stdout()
    }

    pub fn dump(&self) -> RotelDump {
        parse_rotel_output(&self.output())
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<RotelSpan> {
        self.dump().spans
    }

    pub fn metric_names(&self) -> BTreeSet<String> {
        self.dump().metrics.into_iter().map(|m| m.name).collect()
    }

    /// Every distinct key/value pair seen in any resource (spans, metrics, logs).
    pub fn resource_attributes(&self) -> Vec<(String, String)> {
        self.dump().resource_attributes
    }

    /// Polls until a span called `name` has arrived.
    #[track_caller]
    pub fn wait_for_span(&self, name: &str, timeout: Duration) -> RotelSpan {
        wait_until(&format!("span {name:?} at rotel"), timeout, || {
            self.spans().into_iter().find(|s| s.name == name)
        })
    }

    /// Polls until metric `name` has arrived; returns its latest export.
    #[track_caller]
    pub fn wait_for_metric(&self, name: &str, timeout: Duration) -> RotelMetric {
        wait_until(&format!("metric {name:?} at rotel"), timeout, || {
            self.dump()
                .metrics
                .into_iter()
                .rev()
                .find(|m| m.name == name)
        })
    }
}

pub fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

// --- Parser for rotel's `--debug-log-verbosity detailed` dump -------------
//
// rotel (0.0.1-alpha10) prints one block per export request, in a single
// write, in the format of the Collector's debug exporter:
//
//   ResourceSpans #0                         (ResourceMetrics #0 / ResourceLog #0)
//   Resource attributes:                     (absent when there are none)
//        -> service.name: Str(gen-svc)
//   ScopeSpans #0
//   InstrumentationScope gen
//   Span #0
//       Trace ID       : b0cf84ba533767a9b6ebf6daa3b552a0
//       Parent ID      :                     (empty for a root span)
//       ID             : e6a9403228fdaf81
//       Name           : parent-op
//   Attributes:
//        -> block.height: Int(42)
//   Events:
//   SpanEvent #0
//        -> Name: evt-one
//        -> Attributes::
//             -> e.k: Str(e.v)
//
// Values are typed: Str(..), Int(..), Bool(..), Double(..), Slice(..), ...
// A string containing a newline is printed across several lines.
