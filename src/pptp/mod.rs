//! PPTP (RFC 2637), server (PAC) side: the control connection, GRE sequencing, and the fixed
//! session table that ties a call to its PPP link and its address.

pub mod control;
pub mod gre;
pub mod rate;
pub mod session;
pub mod slot_index;
pub mod table;
pub mod throttle;
