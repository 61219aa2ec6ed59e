//! MountainCar (Moore 1990) as in Gymnasium 1.x: reward -1 per step, terminated at the goal.

use crate::env::fixed_state;
use crate::{Dynamics, Rng};

pub const STATE_NAMES: &str = "position, velocity";

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

#[derive(Default)]
struct MountainCar {
    position: f64,
    velocity: f64,
}

pub fn make() -> Box<dyn Dynamics> {
    Box::new(MountainCar::default())
}

impl Dynamics for MountainCar {
    fn reset(&mut self, rng: &mut Rng) {
        self.position = rng.uniform(-0.6, -0.4);
        self.velocity = 0.0;
    }

    fn state(&self) -> Vec<f64> {
        vec![self.position, self.velocity]
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), String> {
        let [position, velocity] = fixed_state(state)?;
        self.position = position;
        self.velocity = velocity;
        Ok(())
    }

    fn observation(&self) -> Vec<f32> {
        vec![self.position as f32, self.velocity as f32]
    }

    fn step(&mut self, action: usize, _rng: &mut Rng) -> (f64, bool) {
        let mut velocity = self.velocity + (action as f64 - 1.0) * FORCE + (3.0 * self.position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        let position = (self.position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        self.position = position;
        self.velocity = velocity;
        (-1.0, position >= GOAL_POSITION && velocity >= GOAL_VELOCITY)
    }
}
