//! A Dockerfile read as BuildKit's frontend reads it: parser directives, comments, line
//! continuations, instruction words in any case, exec form (a JSON array) or shell form.
//! Instructions and flags the replay cannot perform are errors, never skipped: a Dockerfile
//! that uses them must teach the replay first.

use std::fmt;

/// One `FROM` and the instructions under it.
#[derive(Debug, Clone)]
pub struct Stage {
    /// `AS name`, lowercased as BuildKit compares stage names.
    pub name: Option<String>,
    pub base: String,
    pub line: usize,
    pub steps: Vec<Step>,
}

/// An instruction with the line it starts on and its text, for reports and cache keys.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub text: String,
    pub instruction: Instruction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    Workdir(String),
    Copy {
        from: Option<String>,
        chmod: Option<u32>,
        sources: Vec<String>,
        destination: String,
    },
    /// The argv BuildKit runs: `/bin/sh -c TEXT` for the shell form.
    Run(Vec<String>),
    Env(Vec<(String, String)>),
    User(String),
    Expose(Vec<u16>),
    Entrypoint(Vec<String>),
    Cmd(Vec<String>),
    Label,
}

/// Where and why a Dockerfile cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dockerfile:{}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The stages of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Stage>, ParseError> {
    let mut stages: Vec<Stage> = Vec::new();
    for (line, logical) in logical_lines(text)? {
        let err = |message: String| ParseError { line, message };
        let (word, rest) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical.as_str(), ""));
        let word = word.to_ascii_uppercase();
        let rest = rest.trim();
        if word == "FROM" {
            stages.push(from(rest, line)?);
            continue;
        }
        let Some(stage) = stages.last_mut() else {
            return Err(err(format!("{word} before the first FROM")));
        };
        let instruction = instruction(&word, rest).map_err(err)?;
        stage.steps.push(Step {
            line,
            text: logical.clone(),
            instruction,
        });
    }
    if stages.is_empty() {
        return Err(ParseError {
            line: 0,
            message: "no FROM: the file has no stage".into(),
        });
    }
    Ok(stages)
}

/// Joined continuation lines with the number of the line each starts on. Parser directives
/// other than `syntax` change how the rest is read, so they are refused.
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, ParseError> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut in_directives = true;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let directive = comment
                .trim()
                .split_once('=')
                .map(|(key, _)| key.trim().to_ascii_lowercase())
                .filter(|key| in_directives && current.is_none() && !key.contains(' '));
            if let Some(key) = directive.filter(|key| key != "syntax") {
                return Err(ParseError {
                    line: number,
                    message: format!("parser directive `{key}` is not replayed"),
                });
            }
            continue;
        }
        in_directives = false;
        if trimmed.is_empty() {
            continue;
        }
        let (body, continues) = match raw.trim_end().strip_suffix('\\') {
            Some(body) => (body, true),
            None => (raw.trim_end(), false),
        };
        let (start, mut joined) = current.take().unwrap_or((number, String::new()));
        joined.push_str(if joined.is_empty() {
            body.trim_start()
        } else {
            body
        });
        if continues {
            current = Some((start, joined));
        } else {
            lines.push((start, joined));
        }
    }
    if let Some((start, _)) = current {
        return Err(ParseError {
            line: start,
            message: "the file ends inside a line continuation".into(),
        });
    }
    Ok(lines)
}

fn from(rest: &str, line: usize) -> Result<Stage, ParseError> {
    let words: Vec<&str> = rest
        .split_whitespace()
        .filter(|w| !w.starts_with("--platform="))
        .collect();
    let (base, name) = match words.as_slice() {
        [base] => (*base, None),
        [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
            (*base, Some(name.to_ascii_lowercase()))
        }
        _ => {
            return Err(ParseError {
                line,
                message: format!("FROM {rest}: expected `FROM image [AS name]`"),
            });
        }
    };
    if base.contains('$') {
        return Err(ParseError {
            line,
            message: format!("FROM {base}: build arguments in FROM are not replayed"),
        });
    }
    Ok(Stage {
        name,
        base: base.to_string(),
        line,
        steps: Vec::new(),
    })
}

fn instruction(word: &str, rest: &str) -> Result<Instruction, String> {
    if word != "RUN" && rest.contains('$') {
        return Err(format!(
            "{word} {rest}: variable substitution is not replayed"
        ));
    }
    Ok(match word {
        "WORKDIR" => Instruction::Workdir(single(word, rest)?),
        "COPY" => copy(rest)?,
        "RUN" => {
            if rest.starts_with("--") {
                return Err(format!("RUN flags ({rest}) are not replayed"));
            }
            Instruction::Run(
                exec_form(rest)
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()]),
            )
        }
        "ENV" => Instruction::Env(env_pairs(rest)?),
        "USER" => Instruction::User(single(word, rest)?),
        "EXPOSE" => Instruction::Expose(
            rest.split_whitespace()
                .map(|p| {
                    let port = p.strip_suffix("/tcp").unwrap_or(p);
                    port.parse()
                        .map_err(|_| format!("EXPOSE {p}: not a TCP port number"))
                })
                .collect::<Result<_, _>>()?,
        ),
        "ENTRYPOINT" | "CMD" => {
            let argv = exec_form(rest).ok_or_else(|| {
                format!("{word} {rest}: the shell form needs /bin/sh, which the image lacks; use the exec form")
            })?;
            if word == "CMD" {
                Instruction::Cmd(argv)
            } else {
                Instruction::Entrypoint(argv)
            }
        }
        "LABEL" => Instruction::Label,
        other => return Err(format!("instruction {other} is not replayed")),
    })
}

fn single(word: &str, rest: &str) -> Result<String, String> {
    match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(format!("{word} takes one argument, got `{rest}`")),
    }
}

/// The JSON array of an exec-form instruction; `None` for the shell form.
fn exec_form(rest: &str) -> Option<Vec<String>> {
    rest.starts_with('[')
        .then(|| serde_json::from_str(rest).ok())
        .flatten()
}

fn copy(rest: &str) -> Result<Instruction, String> {
    let mut from = None;
    let mut chmod = None;
    let mut words = rest;
    while let Some(flag) = words.strip_prefix("--") {
        let (flag, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        if let Some(stage) = flag.strip_prefix("from=") {
            from = Some(stage.to_ascii_lowercase());
        } else if let Some(mode) = flag.strip_prefix("chmod=") {
            let mode = u32::from_str_radix(mode, 8)
                .map_err(|_| format!("COPY --chmod={mode}: not an octal mode"))?;
            chmod = Some(mode);
        } else if flag != "link" && !flag.starts_with("link=") {
            // --chown, --parents, --exclude: ownership and filters the replay does not model.
            return Err(format!("COPY --{flag} is not replayed"));
        }
        words = tail.trim_start();
    }
    let mut paths =
        exec_form(words).unwrap_or_else(|| words.split_whitespace().map(str::to_string).collect());
    let Some(destination) = paths.pop().filter(|_| !paths.is_empty()) else {
        return Err(format!("COPY {rest}: needs a source and a destination"));
    };
    if paths.len() > 1 && !destination.ends_with('/') {
        return Err(format!(
            "COPY {rest}: with more than one source, the destination must be a directory and end with a /"
        ));
    }
    Ok(Instruction::Copy {
        from,
        chmod,
        sources: paths,
        destination,
    })
}

fn env_pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    if !rest.contains('=') {
        // The legacy `ENV KEY value` form.
        let (key, value) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("ENV {rest}: needs a value"))?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    rest.split_whitespace()
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("ENV {rest}: `{pair}` is not KEY=value"))?;
            if value.contains(['"', '\'']) {
                return Err(format!("ENV {rest}: quoted values are not replayed"));
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_forms_read_as_buildkit_reads_them() {
        let stages = parse(
            "# syntax=docker/dockerfile:1\nfrom rust:1 as Build\nWORKDIR /src\n\
             run echo a \\\n  # a comment inside\n  && echo b\n\
             COPY --from=build a b /out/\nFROM scratch\nCMD [\"x\", \"y\"]\n",
        )
        .unwrap();
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].name.as_deref(), Some("build"));
        let run = &stages[0].steps[1];
        assert_eq!(run.line, 4);
        assert_eq!(
            run.instruction,
            Instruction::Run(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo a   && echo b".into()
            ])
        );
        assert!(matches!(
            &stages[0].steps[2].instruction,
            Instruction::Copy { from: Some(f), sources, .. } if f == "build" && sources.len() == 2
        ));
        assert_eq!(
            stages[1].steps[0].instruction,
            Instruction::Cmd(vec!["x".into(), "y".into()])
        );
    }

    #[test]
    fn what_the_replay_cannot_do_is_an_error_with_its_line() {
        for (text, line, says) in [
            ("RUN true\n", 1, "before the first FROM"),
            ("FROM a\nADD x y\n", 2, "ADD is not replayed"),
            ("FROM a\nCOPY a b c\n", 2, "must be a directory"),
            ("FROM a\nCOPY $X y\n", 2, "variable substitution"),
            ("FROM a\nRUN --mount=type=cache true\n", 2, "RUN flags"),
            ("# escape=`\nFROM a\n", 1, "escape"),
            ("FROM a\nRUN echo \\\n", 2, "continuation"),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.message.contains(says), "{text:?}: {error}");
        }
    }
}
