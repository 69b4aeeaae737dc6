//! What each image of docker-compose.yml is, as far as running its program here needs: the
//! program (built from its Go module at the pinned release, or our own binary), where the
//! image keeps it, its entrypoint, user, environment and the directories a named volume would
//! copy its ownership from. These are the upstream images' Dockerfile facts; our own image's
//! are read from the Dockerfile itself.

use std::path::{Path, PathBuf};

use super::programs::Programs;

/// One image's runtime facts.
#[derive(Debug, Clone)]
pub struct Image {
    /// The program run for it here.
    pub program: PathBuf,
    /// Where the image keeps that program (the entrypoint's path).
    pub program_path: String,
    /// ENTRYPOINT, used when the service gives none.
    pub entrypoint: Vec<String>,
    /// CMD, used when the service gives no command.
    pub default_command: Vec<String>,
    /// USER as uid:gid.
    pub user: (u32, u32),
    /// ENV.
    pub env: Vec<(String, String)>,
    /// WORKDIR.
    pub working_dir: String,
    /// Directories the image holds, with owner and mode: a named volume mounted there starts
    /// as a copy of them (Docker copies the image's content and permissions into an empty
    /// named volume). A volume mounted anywhere else starts as root:root 0755.
    pub dirs: Vec<(String, u32, u32, u32)>,
}

const NOBODY: (u32, u32) = (65534, 65534);
/// The otel and Jaeger images' USER.
const OTEL_UID: (u32, u32) = (10001, 10001);

/// The facts of `image` (name:tag) for a service of docker-compose.yml.
pub fn lookup(image: &str, programs: &Programs, repo: &Path) -> Image {
    let (name, tag) = image
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("image {image} has no tag: every image must be pinned"));
    match name {
        "otel/opentelemetry-collector-contrib" => Image {
            program: programs.binary("otelcol", tag, "otelcol-alys"),
            program_path: "/otelcol-contrib".into(),
            entrypoint: vec!["/otelcol-contrib".into()],
            default_command: vec!["--config".into(), "/etc/otelcol-contrib/config.yaml".into()],
            user: OTEL_UID,
            env: Vec::new(),
            working_dir: "/".into(),
            dirs: Vec::new(),
        },
        "jaegertracing/jaeger" => Image {
            program: programs.binary("jaeger", tag, "jaeger"),
            program_path: "/cmd/jaeger/jaeger-linux".into(),
            entrypoint: vec!["/cmd/jaeger/jaeger-linux".into()],
            default_command: Vec::new(),
            user: OTEL_UID,
            env: vec![("JAEGER_LISTEN_HOST".into(), "0.0.0.0".into())],
            working_dir: "/".into(),
            // alpine's /tmp, declared VOLUME in the image.
            dirs: vec![("/tmp".into(), 0, 0, 0o1777)],
        },
        "prom/prometheus" => Image {
            program: programs.binary("prometheus", tag.trim_start_matches('v'), "prometheus"),
            program_path: "/bin/prometheus".into(),
            entrypoint: vec!["/bin/prometheus".into()],
            default_command: vec![
                "--config.file=/etc/prometheus/prometheus.yml".into(),
                "--storage.tsdb.path=/prometheus".into(),
            ],
            user: NOBODY,
            env: Vec::new(),
            working_dir: "/prometheus".into(),
            dirs: vec![("/prometheus".into(), NOBODY.0, NOBODY.1, 0o755)],
        },
        "prom/alertmanager" => Image {
            program: programs.binary("alertmanager", tag.trim_start_matches('v'), "alertmanager"),
            program_path: "/bin/alertmanager".into(),
            entrypoint: vec!["/bin/alertmanager".into()],
            default_command: vec![
                "--config.file=/etc/alertmanager/alertmanager.yml".into(),
                "--storage.path=/alertmanager".into(),
            ],
            user: NOBODY,
            env: Vec::new(),
            working_dir: "/alertmanager".into(),
            dirs: vec![("/alertmanager".into(), NOBODY.0, NOBODY.1, 0o755)],
        },
        "alys-telemetry" => own_image(repo, programs),
        _ => panic!(
            "the stack harness does not know image {image}: add what it runs to \
             test-support/src/stack/images.rs"
        ),
    }
}

/// Our image, from the Dockerfile's final stage: the binary it copies, ENTRYPOINT, CMD, USER.
fn own_image(repo: &Path, programs: &Programs) -> Image {
    let dockerfile = std::fs::read_to_string(repo.join("Dockerfile"))
        .unwrap_or_else(|e| panic!("read Dockerfile: {e}"));
    let last_stage = dockerfile
        .rsplit("\nFROM ")
        .next()
        .expect("the Dockerfile has a stage");
    let instruction = |name: &str| {
        last_stage
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("the Dockerfile's final stage has no {name}"))
    };
    let json_list = |text: &str| -> Vec<String> {
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("Dockerfile: {text} is not an exec-form list: {e}"))
    };
    let entrypoint = json_list(instruction("ENTRYPOINT"));
    let user = match instruction("USER") {
        // distroless's named user.
        "nonroot" => (65532, 65532),
        other => panic!("Dockerfile USER {other}: add its uid to test-support/src/stack/images.rs"),
    };
    Image {
        program: programs.node_binary(),
        program_path: entrypoint[0].clone(),
        entrypoint,
        default_command: json_list(instruction("CMD")),
        user,
        env: Vec::new(),
        working_dir: "/".into(),
        dirs: Vec::new(),
    }
}
