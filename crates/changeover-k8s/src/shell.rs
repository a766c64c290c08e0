//! Just enough of the POSIX shell to read the one-liners people put in manifests.
//!
//! A container `command: ["sh", "-c", "sleep 5 && exec server"]` or a preStop hook running
//! `/bin/sh -c "kill -TERM 1"` hides its meaning inside a script. This module splits such a script
//! into simple commands (words, quotes and escapes resolved; `;`, `&&`, `||`, `|`, `&` and newlines
//! separate commands; comments dropped) and strips the words that only introduce a command
//! (`if`, `then`, `do`, `{`, `VAR=value`, …). It does not expand anything: `$DELAY` stays
//! `$DELAY`, which callers treat as unknown.

/// Shells whose `-c` script we read.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"];

/// Words that start a compound command or introduce the next simple command.
const LEADING_KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "(", ")", "time",
];

/// The last path component of a command word: `/bin/sh` → `sh`.
pub fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Whether a word names a shell (any path).
pub fn is_shell(word: &str) -> bool {
    SHELLS.contains(&basename(word))
}

/// Drops launchers that run the real command unchanged: `env [-i] [VAR=x]…` and `busybox`.
pub fn strip_launchers(argv: &[String]) -> &[String] {
    let mut argv = argv;
    loop {
        match argv.first().map(|w| basename(w)) {
            Some("env") => {
                let skip = argv[1..]
                    .iter()
                    .take_while(|w| w.starts_with('-') || is_assignment(w))
                    .count();
                argv = &argv[1 + skip..];
            }
            Some("busybox") if argv.len() > 1 => argv = &argv[1..],
            _ => return argv,
        }
    }
}

/// When `argv` runs a shell with `-c`, the script it runs.
///
/// ```
/// use changeover_k8s::shell::shell_script;
/// let argv: Vec<String> = ["/bin/bash", "-euo", "pipefail", "-c", "exec app"].map(String::from).into();
/// assert_eq!(shell_script(&argv), Some("exec app"));
/// let argv: Vec<String> = ["sh", "start.sh"].map(String::from).into();
/// assert_eq!(shell_script(&argv), None);
/// ```
pub fn shell_script(argv: &[String]) -> Option<&str> {
    let argv = strip_launchers(argv);
    if !is_shell(argv.first()?) {
        return None;
    }
    let mut c_mode = false;
    let mut words = argv[1..].iter();
    while let Some(word) = words.next() {
        let option = word.len() > 1 && (word.starts_with('-') || word.starts_with('+'));
        if word == "--" {
            continue;
        }
        if option && !word.starts_with("--") {
            let letters = &word[1..];
            if letters.contains('c') {
                c_mode = true;
            }
            // `-o OPTION` takes the next word (possibly clustered: `-euo pipefail`).
            if letters.ends_with('o') {
                words.next();
            }
            continue;
        }
        if option {
            continue; // a long option such as --norc
        }
        return if c_mode { Some(word) } else { None };
    }
    None
}

/// The simple commands of `argv`: those of its `-c` script when it runs a shell, else `argv`
/// itself (launchers such as `env` removed).
pub fn commands_of(argv: &[String]) -> Vec<Vec<String>> {
    match shell_script(argv) {
        Some(script) => commands(script),
        None => {
            let argv = strip_launchers(argv);
            if argv.is_empty() {
                Vec::new()
            } else {
                vec![argv.to_vec()]
            }
        }
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Splits a script into simple commands, each a list of words.
///
/// ```
/// use changeover_k8s::shell::commands;
/// let cmds = commands("set -e; if [ -f x ]; then sleep 5; fi\nexec \"my app\" --flag='a b'");
/// assert_eq!(cmds[2], vec!["sleep", "5"]);
/// assert_eq!(cmds.last().unwrap(), &vec!["exec", "my app", "--flag=a b"]);
/// ```
pub fn commands(script: &str) -> Vec<Vec<String>> {
    simple_commands(script)
        .into_iter()
        .map(|c| c.words)
        .collect()
}

/// One simple command of a script: its words (quotes and escapes resolved) and its text as
/// written, which is what a fix should quote (`nginx -g 'daemon off;'`, not `nginx -g daemon off;`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The words, leading keywords and assignments removed.
    pub words: Vec<String>,
    /// The command as written in the script.
    pub source: String,
}

/// [`commands`], with the text of each command as written.
///
/// ```
/// use changeover_k8s::shell::simple_commands;
/// let cmds = simple_commands("cd /app; then nginx -g 'daemon off;'");
/// assert_eq!(cmds[1].source, "nginx -g 'daemon off;'");
/// assert_eq!(cmds[1].words, ["nginx", "-g", "daemon off;"]);
/// ```
pub fn simple_commands(script: &str) -> Vec<SimpleCommand> {
    let mut commands = Vec::new();
    // Words of the current command with the byte range each covers in the script.
    let mut words: Vec<(String, usize, usize)> = Vec::new();
    let mut word = String::new();
    let mut word_start: Option<usize> = None;
    let mut chars = script.char_indices().peekable();

    let end_word = |words: &mut Vec<(String, usize, usize)>,
                    word: &mut String,
                    word_start: &mut Option<usize>,
                    end: usize| {
        if let Some(start) = word_start.take() {
            words.push((std::mem::take(word), start, end));
        }
    };
    let end_command = |commands: &mut Vec<SimpleCommand>,
                       words: &mut Vec<(String, usize, usize)>| {
        let cmd = std::mem::take(words);
        let lead = cmd
            .iter()
            .take_while(|(w, ..)| LEADING_KEYWORDS.contains(&w.as_str()) || is_assignment(w))
            .count();
        let rest = &cmd[lead..];
        if let (Some(first), Some(last)) = (rest.first(), rest.last()) {
            commands.push(SimpleCommand {
                words: rest.iter().map(|(w, ..)| w.clone()).collect(),
                source: script[first.1..last.2].to_string(),
            });
        }
    };

    while let Some((at, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => end_word(&mut words, &mut word, &mut word_start, at),
            '\n' | ';' | '&' | '|' => {
                end_word(&mut words, &mut word, &mut word_start, at);
                end_command(&mut commands, &mut words);
            }
            '#' if word_start.is_none() => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                end_command(&mut commands, &mut words);
            }
            '\'' => {
                word_start.get_or_insert(at);
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                word_start.get_or_insert(at);
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek().map(|&(_, c)| c) {
                            Some('"' | '\\' | '$' | '`') => {
                                word.extend(chars.next().map(|(_, c)| c))
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) | None => {}
                Some((_, c)) => {
                    word_start.get_or_insert(at);
                    word.push(c);
                }
            },
            c => {
                word_start.get_or_insert(at);
                word.push(c);
            }
        }
    }
    end_word(&mut words, &mut word, &mut word_start, script.len());
    end_command(&mut commands, &mut words);
    commands
}

/// Whether a script installs a handler for SIGTERM (`trap '…' TERM`), in which case it may
/// forward the signal itself instead of handing its PID over with `exec`.
pub fn traps_term(commands: &[Vec<String>]) -> bool {
    commands.iter().any(|cmd| {
        cmd.first().is_some_and(|w| w == "trap")
            && cmd[1..]
                .iter()
                .any(|w| matches!(w.as_str(), "TERM" | "SIGTERM" | "15" | "EXIT" | "0"))
    })
}

/// Whether a `kill` command among `commands` signals PID 1.
pub fn kills_pid_one(commands: &[Vec<String>]) -> Option<&Vec<String>> {
    commands.iter().find(|cmd| {
        if cmd.first().map(|w| basename(w)) != Some("kill") {
            return false;
        }
        let mut args = cmd[1..].iter();
        let mut operands_only = false;
        while let Some(arg) = args.next() {
            if !operands_only && arg == "--" {
                operands_only = true;
            } else if !operands_only && (arg == "-s" || arg == "-n") {
                args.next();
            } else if !operands_only && arg.starts_with('-') && arg.len() > 1 {
                // a signal such as -TERM, -15, -SIGHUP (a negative pid would be a group: skip)
            } else if arg == "1" {
                return true;
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn scripts_behind_launchers() {
        assert_eq!(
            shell_script(&argv(&["/usr/bin/env", "bash", "-c", "x"])),
            Some("x")
        );
        assert_eq!(
            shell_script(&argv(&["busybox", "sh", "-c", "y"])),
            Some("y")
        );
        assert_eq!(shell_script(&argv(&["sh", "-ec", "z"])), Some("z"));
        assert_eq!(
            shell_script(&argv(&["sh", "-o", "errexit", "-c", "w"])),
            Some("w")
        );
        assert_eq!(shell_script(&argv(&["sh", "-c"])), None);
        assert_eq!(shell_script(&argv(&["python", "-c", "x"])), None);
    }

    #[test]
    fn splitting() {
        let c = commands("a && b || c | d & e\n# comment; not a command\nFOO=1 f 'g;h'");
        let firsts: Vec<&str> = c.iter().map(|c| c[0].as_str()).collect();
        assert_eq!(firsts, ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(c[5], vec!["f", "g;h"]);
        assert_eq!(commands("echo a\\\nb"), vec![vec!["echo", "ab"]]);
        assert_eq!(
            commands("{ exec app; }").last().unwrap(),
            &vec!["exec", "app"]
        );
        assert_eq!(
            commands("while true; do x; done").last().unwrap(),
            &vec!["done"]
        );
    }

    #[test]
    fn kill_pid_one() {
        for script in [
            "kill 1",
            "kill -TERM 1",
            "kill -s HUP 1",
            "/bin/kill -- 1",
            "kill -15 1",
        ] {
            assert!(kills_pid_one(&commands(script)).is_some(), "{script}");
        }
        for script in ["kill 12", "kill -s 1 5", "echo kill 1", "kill -l"] {
            assert!(kills_pid_one(&commands(script)).is_none(), "{script}");
        }
    }

    #[test]
    fn traps() {
        assert!(traps_term(&commands(
            "trap 'kill $pid' TERM INT; app & pid=$!; wait"
        )));
        assert!(!traps_term(&commands("app")));
    }
}
