//! LunarLander (discrete, Gymnasium's `LunarLander-v3` without wind) on `box2d-rs`, a port of
//! Box2D 2.4.1 to Rust. Gymnasium uses pybox2d (Box2D 2.3), so trajectories do not agree step by
//! step; the environment is checked statistically instead: Gymnasium's heuristic controller,
//! ported, scores in the same range over 100 seeded episodes (tests/lunar_lander_heuristic.rs).
//!
//! Terrain, lander, legs, engines (with their random dispersion), observation, reward shaping and
//! termination follow Gymnasium's source line by line. The state that [`Dynamics::state`] reports
//! is what rebuilds an episode exactly: the 12 terrain heights, the initial force, then for each
//! step taken its action and the two dispersion draws; restoring replays those steps.

use std::cell::RefCell;
use std::rc::Rc;

use box2d_rs::b2_body::{B2body, B2bodyDef, B2bodyType, BodyPtr};
use box2d_rs::b2_contact::B2contactDynTrait;
use box2d_rs::b2_fixture::{B2fixtureDef, FixturePtr};
use box2d_rs::b2_joint::B2JointDefEnum;
use box2d_rs::b2_math::B2vec2;
use box2d_rs::b2_world::{B2world, B2worldPtr};
use box2d_rs::b2_world_callbacks::B2contactListener;
use box2d_rs::b2rs_common::UserDataType;
use box2d_rs::joints::b2_revolute_joint::B2revoluteJointDef;
use box2d_rs::shapes::b2_edge_shape::B2edgeShape;
use box2d_rs::shapes::b2_polygon_shape::B2polygonShape;

use crate::{Dynamics, Rng};

pub const STATE_NAMES: &str = "12 terrain heights, initial force x and y, then action and two dispersion draws per step taken";

const FPS: f32 = 50.0;
const SCALE: f32 = 30.0;
const MAIN_ENGINE_POWER: f32 = 13.0;
const SIDE_ENGINE_POWER: f32 = 0.6;
const INITIAL_RANDOM: f64 = 1000.0;
const LANDER_POLY: [(f32, f32); 6] = [(-14.0, 17.0), (-17.0, 0.0), (-17.0, -10.0), (17.0, -10.0), (17.0, 0.0), (14.0, 17.0)];
const LEG_AWAY: f32 = 20.0;
const LEG_DOWN: f32 = 18.0;
const LEG_W: f32 = 2.0;
const LEG_H: f32 = 8.0;
const LEG_SPRING_TORQUE: f32 = 40.0;
const SIDE_ENGINE_HEIGHT: f32 = 14.0;
const SIDE_ENGINE_AWAY: f32 = 12.0;
const MAIN_ENGINE_Y_LOCATION: f32 = 4.0;
const VIEWPORT_W: f32 = 600.0;
const VIEWPORT_H: f32 = 400.0;
const CHUNKS: usize = 11;
const GRAVITY: f32 = -10.0;

#[derive(Default, Clone, Debug)]
struct UserData;

impl UserDataType for UserData {
    type Fixture = ();
    /// Which body: 0 moon, 1 lander, 2 and 3 the legs.
    type Body = u8;
    type Joint = ();
}

/// What the contact listener observes during a world step.
#[derive(Default)]
struct Contacts {
    game_over: bool,
    leg_contact: [bool; 2],
}

struct Listener(Rc<RefCell<Contacts>>);

fn tag(fixture: FixturePtr<UserData>) -> u8 {
    fixture.borrow().get_body().borrow().get_user_data().unwrap_or(0)
}

impl B2contactListener<UserData> for Listener {
    fn begin_contact(&mut self, contact: &mut dyn B2contactDynTrait<UserData>) {
        let base = contact.get_base();
        let tags = [tag(base.get_fixture_a()), tag(base.get_fixture_b())];
        let mut c = self.0.borrow_mut();
        if tags.contains(&1) {
            c.game_over = true;
        }
        for leg in 0..2 {
            if tags.contains(&(2 + leg as u8)) {
                c.leg_contact[leg] = true;
            }
        }
    }

    fn end_contact(&mut self, contact: &mut dyn B2contactDynTrait<UserData>) {
        let base = contact.get_base();
        let tags = [tag(base.get_fixture_a()), tag(base.get_fixture_b())];
        let mut c = self.0.borrow_mut();
        for leg in 0..2 {
            if tags.contains(&(2 + leg as u8)) {
                c.leg_contact[leg] = false;
            }
        }
    }
}

struct World {
    world: B2worldPtr<UserData>,
    lander: BodyPtr<UserData>,
    contacts: Rc<RefCell<Contacts>>,
    helipad_y: f32,
    prev_shaping: Option<f64>,
}

#[derive(Default)]
struct LunarLander {
    world: Option<World>,
    /// The numbers [`Dynamics::state`] reports (see the module documentation).
    record: Vec<f64>,
    observation: Vec<f32>,
}

pub fn make() -> Box<dyn Dynamics> {
    Box::new(LunarLander::default())
}

fn v(x: f32, y: f32) -> B2vec2 {
    B2vec2::new(x, y)
}

fn body(world: &B2worldPtr<UserData>, kind: B2bodyType, position: B2vec2, angle: f32, tag: u8) -> BodyPtr<UserData> {
    let def = B2bodyDef::<UserData> { body_type: kind, position, angle, user_data: Some(tag), ..Default::default() };
    B2world::create_body(world.clone(), &def)
}

fn fixture(body: &BodyPtr<UserData>, shape: Rc<RefCell<dyn box2d_rs::b2_shape::B2shapeDynTrait>>, density: f32, friction: f32, category: u16, mask: u16) {
    let mut def = B2fixtureDef::<UserData> { shape: Some(shape), density, friction, restitution: 0.0, ..Default::default() };
    if category != 0 {
        def.filter.category_bits = category;
        def.filter.mask_bits = mask;
    }
    B2body::create_fixture(body.clone(), &def);
}

impl LunarLander {
    /// Builds the world for terrain `heights` (12 values) and the initial force on the lander.
    fn build(&mut self, heights: &[f64], force: (f64, f64)) {
        let w = VIEWPORT_W / SCALE;
        let h = VIEWPORT_H / SCALE;
        let world = B2world::new(v(0.0, GRAVITY));
        let contacts = Rc::new(RefCell::new(Contacts::default()));
        world.borrow_mut().set_contact_listener(Rc::new(RefCell::new(Listener(contacts.clone()))));

        let chunk_x: Vec<f32> = (0..CHUNKS).map(|i| w / (CHUNKS as f32 - 1.0) * i as f32).collect();
        let helipad_y = h / 4.0;
        let mut height: Vec<f64> = heights.to_vec();
        for i in CHUNKS / 2 - 2..=CHUNKS / 2 + 2 {
            height[i] = helipad_y as f64;
        }
        // Python indexes height[-1] for i = 0: the last of the CHUNKS + 1 heights.
        let at = |i: isize| height[i.rem_euclid(CHUNKS as isize + 1) as usize];
        let smooth_y: Vec<f32> = (0..CHUNKS as isize).map(|i| (0.33 * (at(i - 1) + at(i) + at(i + 1))) as f32).collect();

        let moon = body(&world, B2bodyType::B2StaticBody, v(0.0, 0.0), 0.0, 0);
        let mut edge = B2edgeShape::default();
        edge.set_two_sided(v(0.0, 0.0), v(w, 0.0));
        fixture(&moon, Rc::new(RefCell::new(edge)), 0.0, 0.2, 0, 0);
        for i in 0..CHUNKS - 1 {
            let mut edge = B2edgeShape::default();
            edge.set_two_sided(v(chunk_x[i], smooth_y[i]), v(chunk_x[i + 1], smooth_y[i + 1]));
            fixture(&moon, Rc::new(RefCell::new(edge)), 0.0, 0.1, 0, 0);
        }

        let (initial_x, initial_y) = (VIEWPORT_W / SCALE / 2.0, VIEWPORT_H / SCALE);
        let lander = body(&world, B2bodyType::B2DynamicBody, v(initial_x, initial_y), 0.0, 1);
        let mut poly = B2polygonShape::default();
        let points: Vec<B2vec2> = LANDER_POLY.iter().map(|&(x, y)| v(x / SCALE, y / SCALE)).collect();
        poly.set(&points);
        fixture(&lander, Rc::new(RefCell::new(poly)), 5.0, 0.1, 0x0010, 0x001);
        lander.borrow_mut().apply_force_to_center(v(force.0 as f32, force.1 as f32), true);

        for (leg_index, i) in [-1.0f32, 1.0].into_iter().enumerate() {
            let leg = body(&world, B2bodyType::B2DynamicBody, v(initial_x - i * LEG_AWAY / SCALE, initial_y), i * 0.05, 2 + leg_index as u8);
            let mut shape = B2polygonShape::default();
            shape.set_as_box(LEG_W / SCALE, LEG_H / SCALE);
            fixture(&leg, Rc::new(RefCell::new(shape)), 1.0, 0.2, 0x0020, 0x001);
            let mut rjd = B2revoluteJointDef::<UserData>::default();
            rjd.base.body_a = Some(lander.clone());
            rjd.base.body_b = Some(leg.clone());
            rjd.local_anchor_a = v(0.0, 0.0);
            rjd.local_anchor_b = v(i * LEG_AWAY / SCALE, LEG_DOWN / SCALE);
            rjd.enable_motor = true;
            rjd.enable_limit = true;
            rjd.max_motor_torque = LEG_SPRING_TORQUE;
            rjd.motor_speed = 0.3 * i;
            if i < 0.0 {
                rjd.lower_angle = 0.9 - 0.5;
                rjd.upper_angle = 0.9;
            } else {
                rjd.lower_angle = -0.9;
                rjd.upper_angle = -0.9 + 0.5;
            }
            world.borrow_mut().create_joint(&B2JointDefEnum::RevoluteJoint(rjd));
        }
        self.world = Some(World { world, lander, contacts, helipad_y, prev_shaping: None });
        self.record = heights.iter().copied().chain([force.0, force.1]).collect();
    }

    /// One step with the given action and dispersion draws; returns (reward, terminated).
    fn advance(&mut self, action: usize, dispersion: [f64; 2]) -> (f64, bool) {
        self.record.extend([action as f64, dispersion[0], dispersion[1]]);
        let w = self.world.as_mut().expect("built before stepping");
        let dispersion = [dispersion[0] as f32 / SCALE, dispersion[1] as f32 / SCALE];
        let (angle, position) = {
            let l = w.lander.borrow();
            (l.get_angle(), l.get_position())
        };
        let tip = (angle.sin(), angle.cos());
        let side = (-tip.1, tip.0);
        let mut m_power = 0.0;
        if action == 2 {
            m_power = 1.0;
            let ox = tip.0 * (MAIN_ENGINE_Y_LOCATION / SCALE + 2.0 * dispersion[0]) + side.0 * dispersion[1];
            let oy = -tip.1 * (MAIN_ENGINE_Y_LOCATION / SCALE + 2.0 * dispersion[0]) - side.1 * dispersion[1];
            let impulse_pos = v(position.x + ox, position.y + oy);
            w.lander.borrow_mut().apply_linear_impulse(v(-ox * MAIN_ENGINE_POWER, -oy * MAIN_ENGINE_POWER), impulse_pos, true);
        }
        let mut s_power = 0.0;
        if action == 1 || action == 3 {
            s_power = 1.0;
            let direction = action as f32 - 2.0;
            let ox = tip.0 * dispersion[0] + side.0 * (3.0 * dispersion[1] + direction * SIDE_ENGINE_AWAY / SCALE);
            let oy = -tip.1 * dispersion[0] - side.1 * (3.0 * dispersion[1] + direction * SIDE_ENGINE_AWAY / SCALE);
            let impulse_pos = v(position.x + ox - tip.0 * 17.0 / SCALE, position.y + oy + tip.1 * SIDE_ENGINE_HEIGHT / SCALE);
            w.lander.borrow_mut().apply_linear_impulse(v(-ox * SIDE_ENGINE_POWER, -oy * SIDE_ENGINE_POWER), impulse_pos, true);
        }
        w.world.borrow_mut().step(1.0 / FPS, 6 * 30, 2 * 30);

        let l = w.lander.borrow();
        let (pos, vel) = (l.get_position(), l.get_linear_velocity());
        let contacts = w.contacts.borrow();
        let state = [
            ((pos.x - VIEWPORT_W / SCALE / 2.0) / (VIEWPORT_W / SCALE / 2.0)) as f64,
            ((pos.y - (w.helipad_y + LEG_DOWN / SCALE)) / (VIEWPORT_H / SCALE / 2.0)) as f64,
            (vel.x * (VIEWPORT_W / SCALE / 2.0) / FPS) as f64,
            (vel.y * (VIEWPORT_H / SCALE / 2.0) / FPS) as f64,
            l.get_angle() as f64,
            (20.0 * l.get_angular_velocity() / FPS) as f64,
            if contacts.leg_contact[0] { 1.0 } else { 0.0 },
            if contacts.leg_contact[1] { 1.0 } else { 0.0 },
        ];
        let shaping = -100.0 * (state[0] * state[0] + state[1] * state[1]).sqrt()
            - 100.0 * (state[2] * state[2] + state[3] * state[3]).sqrt()
            - 100.0 * state[4].abs()
            + 10.0 * state[6]
            + 10.0 * state[7];
        let mut reward = w.prev_shaping.map_or(0.0, |p| shaping - p);
        w.prev_shaping = Some(shaping);
        reward -= m_power * 0.30;
        reward -= s_power * 0.03;
        let mut terminated = false;
        if contacts.game_over || state[0].abs() >= 1.0 {
            terminated = true;
            reward = -100.0;
        }
        if !l.is_awake() {
            terminated = true;
            reward = 100.0;
        }
        self.observation = state.iter().map(|&s| s as f32).collect();
        (reward, terminated)
    }
}

impl Dynamics for LunarLander {
    fn reset(&mut self, rng: &mut Rng) {
        let h = (VIEWPORT_H / SCALE) as f64;
        let heights: Vec<f64> = (0..=CHUNKS).map(|_| rng.uniform(0.0, h / 2.0)).collect();
        let force = (rng.uniform(-INITIAL_RANDOM, INITIAL_RANDOM), rng.uniform(-INITIAL_RANDOM, INITIAL_RANDOM));
        self.build(&heights, force);
        // Gymnasium's reset returns the observation after one no-op step.
        let dispersion = [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)];
        self.advance(0, dispersion);
    }

    fn state(&self) -> Vec<f64> {
        self.record.clone()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), String> {
        let fixed = CHUNKS + 1 + 2;
        if state.len() < fixed || (state.len() - fixed) % 3 != 0 {
            return Err(format!("{fixed} + 3k"));
        }
        self.build(&state[..CHUNKS + 1], (state[CHUNKS + 1], state[CHUNKS + 2]));
        for step in state[fixed..].chunks_exact(3) {
            self.advance(step[0] as usize, [step[1], step[2]]);
        }
        Ok(())
    }

    fn observation(&self) -> Vec<f32> {
        self.observation.clone()
    }

    fn step(&mut self, action: usize, rng: &mut Rng) -> (f64, bool) {
        let dispersion = [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)];
        self.advance(action, dispersion)
    }
}
