//! One ALE emulator behind a safe interface.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use super::roms;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AtariError {
    #[error("no ROM for `{game}`: looked in {searched}; pass --rom-dir DIR, set ALE_ROM_DIR, or install the ale-py package (its wheel ships the ROMs under ale_py/roms/; `./lottery` installs it into its cache)")]
    RomNotFound { game: String, searched: String },
    #[error("`{game}` is not a game ALE 0.6 supports; supported: {supported}")]
    Unsupported { game: String, supported: String },
    #[error("{path}: {reason}")]
    BadRom { path: PathBuf, reason: String },
    #[error("--rom-dir {dir}: {reason}; point it at the folder that holds the game's ROM (<game>.bin)")]
    BadRomDir { dir: PathBuf, reason: String },
    #[error("action {action} is invalid: this game has actions 0..{actions}")]
    InvalidAction { action: usize, actions: usize },
    #[error("saved emulator state is malformed: {0}")]
    BadState(String),
}

/// Screen height and width of the Atari 2600 (ALE's frame).
pub const SCREEN: (usize, usize) = (210, 160);

/// One emulator running one ROM. Actions are indices into the game's minimal action set.
pub struct Ale {
    ptr: *mut ale_sys::ALEInterface,
    actions: Vec<i32>,
    game: String,
}

// SAFETY: an ALEInterface has no thread affinity; `Ale` owns it exclusively and every method
// takes `&self`/`&mut self`, so it is used from one thread at a time.
unsafe impl Send for Ale {}

fn key(name: &str) -> CString {
    CString::new(name).expect("no NUL in keys")
}

impl Ale {
    /// Loads `game`'s ROM from `rom`, with the emulator's randomness from `seed` and sticky
    /// actions with probability `repeat_action_probability` (0.25 in ALE v5 environments).
    ///
    /// ALE exits the process on a missing or unknown ROM, so both are checked here first.
    pub fn new(game: &str, rom: &Path, seed: u32, repeat_action_probability: f32) -> Result<Self, AtariError> {
        if !roms::SUPPORTED.contains(&game) {
            return Err(AtariError::Unsupported { game: game.into(), supported: roms::SUPPORTED.join(", ") });
        }
        let meta = std::fs::metadata(rom).map_err(|e| AtariError::BadRom { path: rom.into(), reason: e.to_string() })?;
        // Atari 2600 cartridges are 2 KiB to 64 KiB.
        if !(2048..=65536).contains(&meta.len()) {
            return Err(AtariError::BadRom { path: rom.into(), reason: format!("{} bytes is not an Atari 2600 ROM", meta.len()) });
        }
        // ALE picks the game's reward and terminal logic from the file name, so the ROM is
        // loaded through a file named after the game.
        if rom.file_stem().and_then(|s| s.to_str()) != Some(game) {
            return Err(AtariError::BadRom { path: rom.into(), reason: format!("ALE identifies games by file name; name it {game}.bin") });
        }
        // Identified by content: another game's ROM or random bytes would make ALE run the wrong
        // game's logic or spin forever on illegal instructions.
        let bytes = std::fs::read(rom).map_err(|e| AtariError::BadRom { path: rom.into(), reason: e.to_string() })?;
        roms::verify(game, rom, &bytes)?;
        let path = CString::new(rom.to_string_lossy().as_bytes()).map_err(|_| AtariError::BadRom { path: rom.into(), reason: "NUL in path".into() })?;
        // SAFETY: the pointer comes from ALE_new and is freed once in Drop; keys and the path are
        // NUL-terminated strings that outlive the calls.
        unsafe {
            // Errors only: ALE otherwise logs settings and an MD5 notice on every load.
            ale_sys::setLoggerMode(2);
            let ptr = ale_sys::ALE_new();
            ale_sys::setInt(ptr, key("random_seed").as_ptr(), (seed & 0x7fff_ffff) as i32);
            ale_sys::setFloat(ptr, key("repeat_action_probability").as_ptr(), repeat_action_probability);
            let call = super::watchdog::Call::start();
            ale_sys::loadROM(ptr, path.as_ptr());
            drop(call);
            let n = ale_sys::getMinimalActionSize(ptr) as usize;
            let mut actions = vec![0i32; n];
            ale_sys::getMinimalActionSet(ptr, actions.as_mut_ptr());
            Ok(Ale { ptr, actions, game: game.into() })
        }
    }

    pub fn game(&self) -> &str {
        &self.game
    }

    /// Size of the minimal action set.
    pub fn actions(&self) -> usize {
        self.actions.len()
    }

    /// ALE's action codes of the minimal set (0 NOOP, 1 FIRE, 2 UP, ...).
    pub fn action_codes(&self) -> &[i32] {
        &self.actions
    }

    /// One emulator frame with action `action` (an index into the minimal set); the reward.
    pub fn act(&mut self, action: usize) -> Result<i32, AtariError> {
        let code = *self.actions.get(action).ok_or(AtariError::InvalidAction { action, actions: self.actions.len() })?;
        let _call = super::watchdog::Call::start();
        // SAFETY: `ptr` is live (see `new`).
        Ok(unsafe { ale_sys::act(self.ptr, code) })
    }

    pub fn game_over(&self) -> bool {
        // SAFETY: `ptr` is live.
        unsafe { ale_sys::game_over(self.ptr) }
    }

    pub fn lives(&self) -> i32 {
        // SAFETY: `ptr` is live.
        unsafe { ale_sys::lives(self.ptr) }
    }

    pub fn reset(&mut self) {
        let _call = super::watchdog::Call::start();
        // SAFETY: `ptr` is live.
        unsafe { ale_sys::reset_game(self.ptr) }
    }

    /// The grayscale screen (ALE's luminance palette), row-major `210 x 160`, into `out`.
    pub fn grayscale(&self, out: &mut [u8]) {
        assert_eq!(out.len(), SCREEN.0 * SCREEN.1, "grayscale buffer");
        // SAFETY: `ptr` is live and `out` holds exactly one screen.
        unsafe { ale_sys::getScreenGrayscale(self.ptr, out.as_mut_ptr()) }
    }

    /// The whole emulator state, random generator included, as bytes ([`Ale::restore`]).
    pub fn snapshot(&self) -> Vec<u8> {
        // SAFETY: `ptr` is live; the cloned state is encoded into a buffer of its own length and
        // deleted once.
        unsafe {
            let state = ale_sys::cloneSystemState(self.ptr);
            let len = ale_sys::encodeStateLen(state);
            let mut buf = vec![0u8; len as usize];
            ale_sys::encodeState(state, buf.as_mut_ptr() as *mut _, len);
            ale_sys::deleteState(state);
            buf
        }
    }

    /// Restores a [`Ale::snapshot`] of the same game.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), AtariError> {
        if bytes.is_empty() {
            return Err(AtariError::BadState("empty".into()));
        }
        // SAFETY: `ptr` is live; decodeState copies from `bytes`, which outlives the call, and the
        // decoded state is deleted once after being restored.
        unsafe {
            let state = ale_sys::decodeState(bytes.as_ptr() as *const _, bytes.len() as i32);
            ale_sys::restoreSystemState(self.ptr, state);
            ale_sys::deleteState(state);
        }
        Ok(())
    }
}

impl Drop for Ale {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from ALE_new and is freed only here.
        unsafe { ale_sys::ALE_del(self.ptr) }
    }
}
