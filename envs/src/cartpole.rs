//! CartPole (Barto, Sutton & Anderson 1983) as in Gymnasium 1.x: Euler integration in float64,
//! observations in float32, reward 1 on every step including the one that terminates.

use crate::env::{fixed_state, uniform_state};
use crate::{Dynamics, Rng};

pub const STATE_NAMES: &str = "x, x_dot, theta, theta_dot";

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLEMASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

#[derive(Default)]
struct CartPole {
    state: [f64; 4],
}

pub fn make() -> Box<dyn Dynamics> {
    Box::new(CartPole::default())
}

impl Dynamics for CartPole {
    fn reset(&mut self, rng: &mut Rng) {
        self.state = uniform_state(rng, 0.05);
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), String> {
        self.state = fixed_state(state)?;
        Ok(())
    }

    fn observation(&self) -> Vec<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }

    fn step(&mut self, action: usize, _rng: &mut Rng) -> (f64, bool) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sintheta, costheta) = (theta.sin(), theta.cos());
        // Same operation order as Gymnasium, so float64 results agree to the last bits.
        let temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        self.state = [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc];
        let [x, _, theta, _] = self.state;
        let terminated = x < -X_THRESHOLD || x > X_THRESHOLD || theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD;
        (1.0, terminated)
    }
}
