//! The config file: bytes in as `daned.toml`.

use daned::config::Config;

/// Parses `data` as the config file `/nonexistent/daned.toml` (relative paths, such as a
/// `secret-file`, resolve into a directory that does not exist); a config that parses reloads
/// onto itself with nothing changed.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text, "/nonexistent/daned.toml".as_ref()) else {
        return;
    };
    assert!(
        config.restart_only_changes(&config).is_empty(),
        "a config differs from itself in a restart-only setting"
    );
    let reloaded = config.reloaded(config.clone());
    assert!(reloaded == config, "a config reloaded onto itself changed");
    for zone in &config.zones {
        assert!(
            zone.changed_settings(zone).is_empty(),
            "zone {} differs from itself",
            zone.origin
        );
    }
}
