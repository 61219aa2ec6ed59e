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

/// The MD5 of each supported game's ROM file: the cartridge dumps ALE's game logic was written
/// for (the same files, by hash, that the `ale-py` package verifies against its `md5.json`). A
/// file of other content would run ALE's logic for the wrong game (or crash the emulator), so it
/// is refused before ALE loads it.
pub const ROM_MD5: &[(&str, &str)] = &[
    ("adventure", "4b27f5397c442d25f0c418ccdacf1926"),
    ("air_raid", "35be55426c1fec32dfb503b4f0651572"),
    ("alien", "f1a0a23e6464d954e3a9579c4ccd01c8"),
    ("amidar", "acb7750b4d0c4bd34969802a7deb2990"),
    ("assault", "de78b3a064d374390ac0710f95edde92"),
    ("asterix", "89a68746eff7f266bbf08de2483abe55"),
    ("asteroids", "ccbd36746ed4525821a8083b0d6d2c2c"),
    ("atlantis", "9ad36e699ef6f45d9eb6c4cf90475c9f"),
    ("bank_heist", "00ce0bdd43aed84a983bef38fe7f5ee3"),
    ("battle_zone", "41f252a66c6301f1e8ab3612c19bc5d4"),
    ("beam_rider", "79ab4123a83dc11d468fb2108ea09e2e"),
    ("berzerk", "136f75c4dd02c29283752b7e5799f978"),
    ("bowling", "c9b7afad3bfd922e006a6bfc1d4f3fe7"),
    ("boxing", "c3ef5c4653212088eda54dc91d787870"),
    ("breakout", "f34f08e5eb96e500e851a80be3277a56"),
    ("carnival", "028024fb8e5e5f18ea586652f9799c96"),
    ("centipede", "91c2098e88a6b13f977af8c003e0bca5"),
    ("chopper_command", "c1cb228470a87beb5f36e90ac745da26"),
    ("crazy_climber", "55ef7b65066428367844342ed59f956c"),
    ("defender", "0f643c34e40e3f1daafd9c524d3ffe64"),
    ("demon_attack", "f0e0addc07971561ab80d9abe1b8d333"),
    ("donkey_kong", "36b20c427975760cb9cf4a47e41369e4"),
    ("double_dunk", "368d88a6c071caba60b4f778615aae94"),
    ("elevator_action", "71f8bacfbdca019113f3f0801849057e"),
    ("enduro", "94b92a882f6dbaa6993a46e2dcc58402"),
    ("fishing_derby", "b8865f05676e64f3bec72b9defdacfa7"),
    ("freeway", "8e0ab801b1705a740b476b7f588c6d16"),
    ("frogger", "081e2c114c9c20b61acf25fc95c71bf4"),
    ("frostbite", "4ca73eb959299471788f0b685c3ba0b5"),
    ("galaxian", "211774f4c5739042618be8ff67351177"),
    ("gopher", "c16c79aad6272baffb8aae9a7fff0864"),
    ("gravitar", "8ac18076d01a6b63acf6e2cab4968940"),
    ("hero", "fca4a5be1251927027f2c24774a02160"),
    ("ice_hockey", "a4c08c4994eb9d24fb78be1793e82e26"),
    ("jamesbond", "e51030251e440cffaab1ac63438b44ae"),
    ("journey_escape", "718ae62c70af4e5fd8e932fee216948a"),
    ("kaboom", "5428cdfada281c569c74c7308c7f2c26"),
    ("kangaroo", "4326edb70ff20d0ee5ba58fa5cb09d60"),
    ("keystone_kapers", "6c1f3f2e359dbf55df462ccbcdd2f6bf"),
    ("king_kong", "0dd4c69b5f9a7ae96a7a08329496779a"),
    ("koolaid", "534e23210dd1993c828d944c6ac4d9fb"),
    ("krull", "4baada22435320d185c95b7dd2bcdb24"),
    ("kung_fu_master", "5b92a93b23523ff16e2789b820e2a4c5"),
    ("laser_gates", "8e4cd60d93fcde8065c1a2b972a26377"),
    ("lost_luggage", "2d76c5d1aad506442b9e9fb67765e051"),
    ("montezuma_revenge", "3347a6dd59049b15a38394aa2dafa585"),
    ("mr_do", "aa7bb54d2c189a31bb1fa20099e42859"),
    ("ms_pacman", "87e79cd41ce136fd4f72cc6e2c161bee"),
    ("name_this_game", "36306070f0c90a72461551a7a4f3a209"),
    ("phoenix", "7e52a95074a66640fcfde124fffd491a"),
    ("pitfall", "3e90cf23106f2e08b2781e41299de556"),
    ("pong", "60e0ea3cbe0913d39803477945e9e5ec"),
    ("pooyan", "4799a40b6e889370b7ee55c17ba65141"),
    ("private_eye", "ef3a4f64b6494ba770862768caf04b86"),
    ("qbert", "484b0076816a104875e00467d431c2d2"),
    ("riverraid", "393948436d1f4cc3192410bb918f9724"),
    ("road_runner", "ce5cc62608be2cd3ed8abd844efb8919"),
    ("robotank", "4f618c2429138e0280969193ed6c107e"),
    ("seaquest", "240bfbac5163af4df5ae713985386f92"),
    ("sir_lancelot", "dd0cbe5351551a538414fb9e37fc56e8"),
    ("skiing", "b76fbadc8ffb1f83e2ca08b6fb4d6c9f"),
    ("solaris", "e72eb8d4410152bdcb69e7fba327b420"),
    ("space_invaders", "72ffbef6504b75e69ee1045af9075f66"),
    ("star_gunner", "a3c1c70024d7aabb41381adbfb6d3b25"),
    ("tennis", "42cdd6a9e42a3639e190722b8ea3fc51"),
    ("tetris", "b0e1ee07fbc73493eac5651a52f90f00"),
    ("time_pilot", "fc2104dd2dadf9a6176c1c1c8f87ced9"),
    ("trondead", "fb27afe896e7c928089307b32e5642ee"),
    ("turmoil", "7a5463545dfb2dcfdafa6074b2f2c15e"),
    ("tutankham", "085322bae40d904f53bdcc56df0593fc"),
    ("up_n_down", "a499d720e7ee35c62424de882a3351b6"),
    ("venture", "3e899eba0ca8cd2972da1ae5479b4f0d"),
    ("video_pinball", "107cc025334211e6d29da0b6be46aec7"),
    ("wizard_of_wor", "7e8aa18bc9502eb57daaf5e7c1e94da7"),
    ("yars_revenge", "c5930d0e8cdae3e037349bfa08e871be"),
    ("zaxxon", "eea0da9b987d661264cce69a7c13c3bd"),
];

/// The MD5 of a file's bytes, as lowercase hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(bytes))
}

/// Checks that `bytes` (the file `path`) is `game`'s ROM by content; says which game's ROM it is
/// when it is another one.
pub fn verify(game: &str, path: &Path, bytes: &[u8]) -> Result<String, AtariError> {
    let md5 = md5_hex(bytes);
    let expected = ROM_MD5.iter().find(|(g, _)| *g == game).map(|(_, m)| *m);
    if expected == Some(md5.as_str()) {
        return Ok(md5);
    }
    let reason = match ROM_MD5.iter().find(|(_, m)| *m == md5) {
        Some((other, _)) => format!("it is the ROM of `{other}` (MD5 {md5}), not of `{game}`; put {game}'s ROM there (or name this one {other}.bin)"),
        None => format!(
            "its content (MD5 {md5}) is not a ROM ALE supports, expected {game}'s (MD5 {}); replace it with the ROM the ale-py package ships",
            expected.unwrap_or("unknown")
        ),
    };
    Err(AtariError::BadRom { path: path.into(), reason })
}

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
///
/// An explicit `--rom-dir` is the only place looked in: a folder that does not exist, or lacks
/// the ROM, is an error rather than a silent fallback to another copy.
pub fn find(game: &str, rom_dir: Option<&Path>) -> Result<PathBuf, AtariError> {
    if !SUPPORTED.contains(&game) {
        return Err(AtariError::Unsupported { game: game.into(), supported: SUPPORTED.join(", ") });
    }
    if let Some(dir) = rom_dir {
        if !dir.is_dir() {
            return Err(AtariError::BadRomDir { dir: dir.into(), reason: "it is not a folder".into() });
        }
        let path = dir.join(format!("{game}.bin"));
        if !path.is_file() {
            return Err(AtariError::BadRomDir { dir: dir.into(), reason: format!("it has no {game}.bin") });
        }
        return Ok(path);
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
    fn an_explicit_folder_is_the_only_place_looked_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pong.bin"), [0u8; 2048]).unwrap();
        assert_eq!(find("pong", Some(dir.path())).unwrap(), dir.path().join("pong.bin"));
        let empty = tempfile::tempdir().unwrap();
        let msg = find("pong", Some(empty.path())).unwrap_err().to_string();
        assert!(msg.contains("has no pong.bin") && msg.contains("--rom-dir"), "{msg}");
        let msg = find("pong", Some(&empty.path().join("nowhere"))).unwrap_err().to_string();
        assert!(msg.contains("not a folder"), "{msg}");
        let msg = AtariError::RomNotFound { game: "pong".into(), searched: String::new() }.to_string();
        assert!(msg.contains("--rom-dir") && msg.contains("ALE_ROM_DIR") && msg.contains("ale-py"), "{msg}");
        let err = find("not_a_game", None).unwrap_err().to_string();
        assert!(err.contains("not a game ALE 0.6 supports") && err.contains("space_invaders"), "{err}");
    }
}

#[cfg(test)]
mod content_tests {
    use super::*;

    #[test]
    fn every_supported_game_has_one_hash_and_bytes_are_checked_by_content() {
        assert_eq!(ROM_MD5.len(), SUPPORTED.len());
        for game in SUPPORTED {
            assert_eq!(ROM_MD5.iter().filter(|(g, _)| g == game).count(), 1, "{game}");
        }
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let err = verify("pong", Path::new("pong.bin"), &[7u8; 2048]).unwrap_err().to_string();
        assert!(err.contains("not a ROM ALE supports") && err.contains("MD5"), "{err}");
    }
}
