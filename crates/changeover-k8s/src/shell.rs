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
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();

    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let end_command = |commands: &mut Vec<Vec<String>>, words: &mut Vec<String>| {
        let mut cmd = std::mem::take(words);
        let lead = cmd
            .iter()
            .take_while(|w| LEADING_KEYWORDS.contains(&w.as_str()) || is_assignment(w))
            .count();
        cmd.drain(..lead);
        if !cmd.is_empty() {
            commands.push(cmd);
        }
    };

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => end_word(&mut words, &mut word, &mut in_word),
            '\n' | ';' | '&' | '|' => {
                end_word(&mut words, &mut word, &mut in_word);
                end_command(&mut commands, &mut words);
            }
            '#' if !in_word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                end_command(&mut commands, &mut words);
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some('"' | '\\' | '$' | '`') => word.extend(chars.next()),
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
                Some('\n') | None => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
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
