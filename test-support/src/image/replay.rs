//! `docker build` of the Dockerfile's last stage, step by step, without a Docker engine.
//!
//! Each stage gets a directory that holds what its steps write, at the paths the steps name.
//! A RUN runs in a bubblewrap sandbox (sandbox.rs) on the base image's stand-in (base.rs),
//! with the stage's own directories bound read-write at their image paths. A path outside
//! those directories is read-only, so the replay can be stricter than Docker, never laxer.
//!
//! Steps have cache keys as BuildKit's layers have: a step's key is its parent's key, its
//! text, and for COPY the content of what it copies (paths, modes and bytes; not times).
//! A second build with the same `Replay` takes a RUN whose key it has seen from the layer it
//! kept, up to the first step of the stage whose key is new, as Docker's layer cache does.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::base::{self, Base};
use super::copy::{self, Source};
use super::dockerfile::{self, Instruction, Stage, Step};
use super::sandbox::{copy_tree, run};
use super::{BuiltImage, Context};

/// Why the replay stopped, where `docker build` stops too.
#[derive(Debug)]
pub struct ReplayError {
    /// The Dockerfile's line (0 for the file as a whole).
    pub line: usize,
    pub step: String,
    pub message: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dockerfile:{} `{}`: {}",
            self.line, self.step, self.message
        )
    }
}

impl std::error::Error for ReplayError {}

/// What happened to one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub stage: String,
    pub line: usize,
    pub text: String,
    /// False when the layer came from the cache.
    pub ran: bool,
    pub took: Duration,
    /// A RUN's output (stdout and stderr).
    pub output: String,
}

/// A replay of one Dockerfile, keeping layers between builds.
pub struct Replay {
    scratch: PathBuf,
    /// RUN layers by cache key: the stage's directory as that step left it.
    layers: HashMap<String, PathBuf>,
    builds: usize,
    pub steps: Vec<StepReport>,
}

/// One stage while it builds.
pub(super) struct StageState {
    pub(super) base: Base,
    pub(super) root: PathBuf,
    /// Image paths bound read-write from `root` (for the Rust stand-in; the distroless root is
    /// whole).
    pub(super) own: BTreeSet<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) workdir: String,
    user: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    exposed: Vec<u16>,
    key: String,
    /// Set at the first step whose key is new: from there on every step runs.
    missed: bool,
}

impl Replay {
    /// A replay whose stages and layers live under `scratch` (created if missing).
    pub fn new(scratch: &Path) -> Replay {
        fs::create_dir_all(scratch).unwrap_or_else(|e| panic!("create {}: {e}", scratch.display()));
        Replay {
            scratch: scratch.to_path_buf(),
            layers: HashMap::new(),
            builds: 0,
            steps: Vec::new(),
        }
    }

    /// Builds the last stage of `dockerfile` (a path inside `context` or not) from `context`.
    pub fn build(
        &mut self,
        context: &Context,
        dockerfile: &Path,
    ) -> Result<BuiltImage, ReplayError> {
        self.build_target(context, dockerfile, None)
    }

    /// Builds stage `target` (`docker build --target`), or the last stage.
    pub fn build_target(
        &mut self,
        context: &Context,
        dockerfile: &Path,
        target: Option<&str>,
    ) -> Result<BuiltImage, ReplayError> {
        let whole = |message: String| ReplayError {
            line: 0,
            step: dockerfile.display().to_string(),
            message,
        };
        let text = fs::read_to_string(dockerfile).map_err(|e| whole(format!("read: {e}")))?;
        let stages = dockerfile::parse(&text).map_err(|e| ReplayError {
            line: e.line,
            step: String::new(),
            message: e.message,
        })?;
        self.builds += 1;
        let target = match target {
            None => stages.len() - 1,
            Some(name) => stage_index(&stages, name, stages.len())
                .ok_or_else(|| whole(format!("no stage named {name}")))?,
        };
        let needed = needed_stages(&stages, target);
        let mut built: Vec<Option<StageState>> = Vec::new();
        for (index, stage) in stages.iter().enumerate().take(target + 1) {
            if !needed.contains(&index) {
                built.push(None);
                continue;
            }
            let state = self.build_stage(index, stage, &stages, &built, context)?;
            built.push(Some(state));
        }
        let last = built
            .pop()
            .flatten()
            .ok_or_else(|| whole("the target stage was not built".into()))?;
        Ok(BuiltImage {
            root: last.root,
            env: last.env,
            workdir: last.workdir,
            user: last.user,
            entrypoint: last.entrypoint,
            cmd: last.cmd,
            exposed: last.exposed,
        })
    }

    fn build_stage(
        &mut self,
        index: usize,
        stage: &Stage,
        stages: &[Stage],
        built: &[Option<StageState>],
        context: &Context,
    ) -> Result<StageState, ReplayError> {
        let label = stage.name.clone().unwrap_or_else(|| index.to_string());
        let root = self
            .scratch
            .join(format!("build-{}/stage-{label}", self.builds));
        let error = |message: String| ReplayError {
            line: stage.line,
            step: format!("FROM {}", stage.base),
            message,
        };
        let mut state = match stage_index(stages, &stage.base, index) {
            Some(parent) => {
                let parent = built[parent]
                    .as_ref()
                    .ok_or_else(|| error("its base stage was not built".into()))?;
                copy_tree(&parent.root, &root).map_err(error)?;
                StageState {
                    root,
                    missed: false,
                    base: parent.base.clone(),
                    own: parent.own.clone(),
                    env: parent.env.clone(),
                    workdir: parent.workdir.clone(),
                    user: parent.user.clone(),
                    entrypoint: parent.entrypoint.clone(),
                    cmd: parent.cmd.clone(),
                    exposed: parent.exposed.clone(),
                    key: parent.key.clone(),
                }
            }
            None => {
                fs::create_dir_all(&root).map_err(|e| error(e.to_string()))?;
                let image = base::stand_in(&stage.base, &root).map_err(error)?;
                let own = match image.base {
                    Base::Rust(_) => ["/usr/local/cargo".to_string()].into(),
                    Base::Distroless => BTreeSet::new(),
                };
                StageState {
                    root,
                    missed: false,
                    base: image.base,
                    own,
                    env: image.env,
                    workdir: image.workdir,
                    user: image.user,
                    entrypoint: Vec::new(),
                    cmd: Vec::new(),
                    exposed: Vec::new(),
                    key: hex(stage.base.as_bytes()),
                }
            }
        };
        for (number, step) in stage.steps.iter().enumerate() {
            let started = Instant::now();
            // A stage's last layer is its final state, which later stages read from `root`;
            // only layers that later steps build on are kept for the next build.
            let keep_layer = number + 1 < stage.steps.len();
            let (ran, output) = self
                .step(&mut state, step, keep_layer, stages, built, context)
                .map_err(|message| ReplayError {
                    line: step.line,
                    step: step.text.clone(),
                    message,
                })?;
            self.steps.push(StepReport {
                stage: label.clone(),
                line: step.line,
                text: step.text.clone(),
                ran,
                took: started.elapsed(),
                output,
            });
        }
        Ok(state)
    }

    /// Performs one step; whether it ran (false: from the cache) and a RUN's output.
    fn step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        keep_layer: bool,
        stages: &[Stage],
        built: &[Option<StageState>],
        context: &Context,
    ) -> Result<(bool, String), String> {
        match &step.instruction {
            Instruction::Workdir(dir) => {
                let dir = absolute(&state.workdir, dir);
                self.own_dir(state, &dir)?;
                state.workdir = dir;
                state.key = key(&[&state.key, &step.text]);
            }
            Instruction::Copy {
                from,
                chmod,
                sources,
                destination,
            } => {
                let source = match from {
                    None => Source::Context(&context.dir),
                    Some(name) => {
                        let index = stage_index(stages, name, usize::MAX)
                            .ok_or_else(|| format!("--from={name} is not a stage of this Dockerfile (the replay pulls no images)"))?;
                        let stage = built[index].as_ref().ok_or("its stage was not built")?;
                        Source::Stage {
                            root: &stage.root,
                            own: &stage.own,
                            whole: matches!(stage.base, Base::Distroless),
                        }
                    }
                };
                let files = copy::resolve(&source, sources)?;
                let destination = absolute(&state.workdir, destination);
                let directory = destination.ends_with('/') || sources.len() > 1;
                let dest_dir = if directory {
                    destination.trim_end_matches('/').to_string()
                } else {
                    parent(&destination)
                };
                self.own_dir(state, &dest_dir)?;
                let digest = copy::digest(&files)?;
                copy::apply(&files, &state.root, &destination, directory, *chmod)?;
                state.key = key(&[&state.key, &step.text, &digest]);
            }
            Instruction::Run(argv) => {
                let step_key = key(&[&state.key, &step.text, &format!("{:?}", state.env)]);
                state.key = step_key.clone();
                if let Some(layer) = self.layers.get(&step_key).filter(|_| !state.missed) {
                    fs::remove_dir_all(&state.root).map_err(|e| e.to_string())?;
                    copy_tree(layer, &state.root)?;
                    return Ok((false, String::new()));
                }
                state.missed = true;
                let output = run(state, argv)?;
                if keep_layer {
                    let layer = self.scratch.join(format!("layers/{}", &step_key[..16]));
                    if !layer.exists() {
                        copy_tree(&state.root, &layer)?;
                    }
                    self.layers.insert(step_key, layer);
                }
                return Ok((true, output));
            }
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    state.env.retain(|(key, _)| key != k);
                    state.env.push((k.clone(), v.clone()));
                }
                state.key = key(&[&state.key, &step.text]);
            }
            Instruction::User(user) => state.user = user.clone(),
            Instruction::Expose(ports) => state.exposed.extend(ports),
            Instruction::Entrypoint(argv) => {
                state.entrypoint = argv.clone();
                // As Docker does: a new ENTRYPOINT resets the CMD inherited from the base.
                state.cmd.clear();
            }
            Instruction::Cmd(argv) => state.cmd = argv.clone(),
            Instruction::Label => {}
        }
        Ok((true, String::new()))
    }

    /// Makes `dir` exist in the stage, as a directory of its own when no own one holds it.
    fn own_dir(&self, state: &mut StageState, dir: &str) -> Result<(), String> {
        let host = state.root.join(dir.trim_start_matches('/'));
        fs::create_dir_all(&host).map_err(|e| format!("create {dir}: {e}"))?;
        let held = state
            .own
            .iter()
            .any(|own| dir == own || dir.starts_with(&format!("{own}/")));
        if matches!(state.base, Base::Rust(_)) && !held {
            if dir == "/" || ["/usr", "/etc"].iter().any(|sys| dir.starts_with(sys)) {
                return Err(format!(
                    "{dir} is part of the base image's system, which the replay keeps read-only"
                ));
            }
            state.own.insert(dir.to_string());
        }
        Ok(())
    }
}

/// The stages `target` needs, by FROM and COPY --from, itself included.
fn needed_stages(stages: &[Stage], target: usize) -> BTreeSet<usize> {
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(index) = todo.pop() {
        if !needed.insert(index) {
            continue;
        }
        let stage = &stages[index];
        let refs = std::iter::once(stage.base.as_str()).chain(stage.steps.iter().filter_map(|s| {
            match &s.instruction {
                Instruction::Copy { from: Some(f), .. } => Some(f.as_str()),
                _ => None,
            }
        }));
        for name in refs {
            if let Some(dep) = stage_index(stages, name, index) {
                todo.push(dep);
            }
        }
    }
    needed
}

/// The stage named `name` (or numbered) before `before`.
fn stage_index(stages: &[Stage], name: &str, before: usize) -> Option<usize> {
    let name = name.to_ascii_lowercase();
    stages
        .iter()
        .take(before)
        .position(|s| s.name.as_deref() == Some(name.as_str()))
        .or_else(|| name.parse().ok().filter(|i| *i < before.min(stages.len())))
}

fn absolute(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else if path == "." || path == "./" {
        format!("{}/", workdir.trim_end_matches('/'))
    } else {
        format!(
            "{}/{}",
            workdir.trim_end_matches('/'),
            path.trim_start_matches("./")
        )
    }
}

fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((dir, _)) => dir.into(),
    }
}

fn key(parts: &[&str]) -> String {
    hex(parts.join("\0").as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
