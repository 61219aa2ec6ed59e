//! Finding ROMs. They are never part of this repository; the search order is an explicit folder
//! (`--rom-dir`), the `ALE_ROM_DIR` environment variable, then the copies the PyPI `ale-py`
//! package ships under `ale_py/roms/` (in `$LOTTERY_CACHE/ale-py` or `python-site`, where
//! `./lottery` installs it, or wherever `python3` finds `ale_py`). ROM files are `<game>.bin`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::AtariError;

/// The games ALE 0.6 has reward and terminal logic for, by ROM name.
pub const SUPPORTED: &[&str] = &[
    "adventure", "air_raid", "alien", "amidar", "assault", "asterix", "asteroids", "atlantis", "bank_heist", "battle_zone", "beam_rider", "berzerk", "bowling", "boxing", "breakout",
    "carnival", "centipede", "chopper_command", "crazy_climber", "defender", "demon_attack", "donkey_kong", "double_dunk", "elevator_action", "enduro", "fishing_derby", "freeway",
    "frogger", "frostbite", "galaxian", "gopher", "gravitar", "hero", "ice_hockey", "jamesbond", "journey_escape", "kaboom", "kangaroo", "keystone_kapers", "king_kong", "koolaid",
    "krull", "kung_fu_master", "laser_gates", "lost_luggage", "montezuma_revenge", "mr_do", "ms_pacman", "name_this_game", "phoenix", "pitfall", "pong", "pooyan", "private_eye",
    "qbert", "riverraid", "road_runner", "robotank", "seaquest", "sir_lancelot", "skiing", "solaris", "space_invaders", "star_gunner", "tennis", "tetris", "time_pilot", "trondead",
    "turmoil", "tutankham", "up_n_down", "venture", "video_pinball", "wizard_of_wor", "yars_revenge", "zaxxon",
];

/// The folders searched for ROMs, in order, each with where it came from.
pub fn search_path(rom_dir: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut dirs = vec![];
    if let Some(dir) = rom_dir {
        dirs.push((dir.to_path_buf(), "--rom-dir"));
    }
    if let Some(dir) = std::env::var_os("ALE_ROM_DIR").filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(dir), "ALE_ROM_DIR"));
    }
    let cache = std::env::var_os("LOTTERY_CACHE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lottery")));
    if let Some(cache) = cache {
        dirs.push((cache.join("ale-py/ale_py/roms"), "ale-py in the lottery cache"));
        dirs.push((cache.join("python-site/ale_py/roms"), "ale-py in the lottery cache"));
    }
    if let Some(dir) = python_ale_py_roms() {
        dirs.push((dir, "ale-py found by python3"));
    }
    dirs
}

/// `ale_py/roms` of the `ale_py` package `python3` would import, without importing it; asked
/// once per process (`harness list` looks up dozens of games).
fn python_ale_py_roms() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(ask_python_for_ale_py_roms).clone()
}

fn ask_python_for_ale_py_roms() -> Option<PathBuf> {
    let script = "import importlib.util as u\ns = u.find_spec('ale_py')\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let out = Command::new("python3").args(["-c", script]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!dir.is_empty()).then(|| Path::new(&dir).join("roms"))
}

/// The ROM file of `game`: the first `<dir>/<game>.bin` on the [`search_path`].
pub fn find(game: &str, rom_dir: Option<&Path>) -> Result<PathBuf, AtariError> {
    if !SUPPORTED.contains(&game) {
        return Err(AtariError::Unsupported { game: game.into(), supported: SUPPORTED.join(", ") });
    }
    let dirs = search_path(rom_dir);
    dirs.iter().map(|(d, _)| d.join(format!("{game}.bin"))).find(|p| p.is_file()).ok_or_else(|| AtariError::RomNotFound {
        game: game.into(),
        searched: dirs.iter().map(|(d, from)| format!("{} ({from})", d.display())).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_folder_comes_first_and_a_missing_rom_names_every_option() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pong.bin"), [0u8; 2048]).unwrap();
        assert_eq!(find("pong", Some(dir.path())).unwrap(), dir.path().join("pong.bin"));
        let empty = tempfile::tempdir().unwrap();
        // Only the explicit folder is controlled here; the message must name all three options.
        if let Err(e) = find("pong", Some(empty.path())) {
            let msg = e.to_string();
            assert!(msg.contains("--rom-dir") && msg.contains("ALE_ROM_DIR") && msg.contains("ale-py"), "{msg}");
        }
        let err = find("not_a_game", None).unwrap_err().to_string();
        assert!(err.contains("not a game ALE 0.6 supports") && err.contains("space_invaders"), "{err}");
    }
}
