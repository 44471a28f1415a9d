//! `daned generate` (hidden): man pages or shell completions from the clap definitions.

use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, GenerateWhat, VERSION};

/// `daned generate`: man pages or completions from the clap definitions.
pub(crate) fn run(what: GenerateWhat) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match what {
        GenerateWhat::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            write_man(&cmd, "daned", &dir)?;
            for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
                let name = format!("daned-{}", sub.get_name());
                let sub = sub
                    .clone()
                    .display_name(name.clone())
                    .bin_name(format!("daned {}", sub.get_name()))
                    .version(VERSION);
                write_man(&sub, &name, &dir)?;
            }
        }
        GenerateWhat::Completions { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for shell in [
                clap_complete::Shell::Bash,
                clap_complete::Shell::Zsh,
                clap_complete::Shell::Fish,
            ] {
                let mut cmd = cmd.clone();
                clap_complete::generate_to(shell, &mut cmd, "daned", &dir)
                    .with_context(|| format!("writing {shell} completions to {}", dir.display()))?;
            }
        }
    }
    Ok(())
}

/// Writes `cmd`'s man page as `DIR/NAME.1`.
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("1")
        .source(format!("daned {VERSION}"))
        .manual("daned manual")
        .render(&mut page)
        .with_context(|| format!("rendering {}", path.display()))?;
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
