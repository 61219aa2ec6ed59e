//! Acrobot (Sutton 1996; the "book" dynamics) as in Gymnasium 1.x: one fourth-order Runge-Kutta
//! step of 0.2 s per action, angles wrapped to [-pi, pi], velocities bounded, reward -1 per step
//! and 0 on the step that reaches the goal height.

use std::f64::consts::PI;

use crate::env::{fixed_state, uniform_state};
use crate::{Dynamics, Rng};

pub const STATE_NAMES: &str = "theta1, theta2, dtheta1, dtheta2";

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const TORQUES: [f64; 3] = [-1.0, 0.0, 1.0];

#[derive(Default)]
struct Acrobot {
    state: [f64; 4],
}

pub fn make() -> Box<dyn Dynamics> {
    Box::new(Acrobot::default())
}

/// Time derivative of (theta1, theta2, dtheta1, dtheta2, torque).
fn dsdt(s: &[f64; 5]) -> [f64; 5] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) =
        (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI, 9.8);
    let [theta1, theta2, dtheta1, dtheta2, a] = *s;
    let d1 = m1 * lc1.powi(2) + m2 * (l1.powi(2) + lc2.powi(2) + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
    let d2 = m2 * (lc2.powi(2) + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * dtheta2.powi(2) * theta2.sin() - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1.powi(2) * theta2.sin() - phi2)
        / (m2 * lc2.powi(2) + i2 - d2.powi(2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

fn axpy(y: &[f64; 5], a: f64, k: &[f64; 5]) -> [f64; 5] {
    std::array::from_fn(|i| y[i] + a * k[i])
}

fn rk4(y0: &[f64; 5], dt: f64) -> [f64; 5] {
    let dt2 = dt / 2.0;
    let k1 = dsdt(y0);
    let k2 = dsdt(&axpy(y0, dt2, &k1));
    let k3 = dsdt(&axpy(y0, dt2, &k2));
    let k4 = dsdt(&axpy(y0, dt, &k3));
    std::array::from_fn(|i| y0[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

impl Dynamics for Acrobot {
    fn reset(&mut self, rng: &mut Rng) {
        self.state = uniform_state(rng, 0.1);
    }

    fn state(&self) -> Vec<f64> {
        self.state.to_vec()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), String> {
        self.state = fixed_state(state)?;
        Ok(())
    }

    fn observation(&self) -> Vec<f32> {
        let [t1, t2, d1, d2] = self.state;
        [t1.cos(), t1.sin(), t2.cos(), t2.sin(), d1, d2].iter().map(|&v| v as f32).collect()
    }

    fn step(&mut self, action: usize, _rng: &mut Rng) -> (f64, bool) {
        let [t1, t2, d1, d2] = self.state;
        let ns = rk4(&[t1, t2, d1, d2, TORQUES[action]], DT);
        self.state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            ns[2].clamp(-MAX_VEL_1, MAX_VEL_1),
            ns[3].clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        let [t1, t2, ..] = self.state;
        let terminated = -t1.cos() - (t2 + t1).cos() > 1.0;
        (if terminated { 0.0 } else { -1.0 }, terminated)
    }
}
