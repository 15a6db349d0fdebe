"""How each sensor of the shipped plant behaves: its operating point and what drives it.

The catalogue says what the control system knows about a sensor (unit, alarm limits); a
:class:`Profile` says what the process does. A reading is
``nominal + spread * (sum of gain * driver + own wander + noise)``, where every plant-wide
driver stays within about -1..1, so normal operation stays within roughly ``nominal +- spread``.
The shipped catalogue puts High/Low at about 1.6 spreads from nominal and High-High/Low-Low at
about 2.4, which is why normal readings almost never alarm.

Sensors the table does not know (a custom catalogue) get a profile from their alarm limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.catalog import SensorSpec

#: The plant-wide drivers, each about -1..1: ambient temperature (daily), product demand (daily),
#: crude charge rate (demand plus operator moves), heater firing (outlet temperature moves) and
#: crude quality (slow changes of crude blend).
DRIVERS: tuple[str, ...] = ("amb", "dem", "feed", "heat", "qual")


@dataclass(frozen=True)
class Profile:
    """A sensor's normal behaviour.

    Parameters
    ----------
    nominal
        The operating point, in the sensor's unit.
    spread
        Half the normal operating band, in the sensor's unit.
    gains
        Driver name -> gain (in spreads). The absolute gains plus ``wander`` stay below 1.
    noise
        Measurement noise standard deviation, in spreads.
    wander
        Gain of the sensor's own slow random wander (local control-loop moves), in spreads.
    """

    nominal: float
    spread: float
    gains: dict[str, float] = field(default_factory=dict)
    noise: float = 0.04
    wander: float = 0.15


#: Pairs that move together in normal operation through a shared driver; a
#: ``broken_correlation`` anomaly decouples the second from the first.
CORRELATED_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("FI-101", "PDI-111", "feed"),
    ("FI-101", "II-701", "feed"),
    ("FI-101", "PDI-301", "feed"),
    ("FI-101", "FI-403", "feed"),
    ("FI-102", "PI-205", "feed"),
    ("TI-101", "TI-103", "heat"),
    ("TI-101", "TI-304", "heat"),
    ("FI-201", "FI-202", "feed"),
    ("TI-602", "TI-501", "amb"),
)

SHIPPED_PROFILES: dict[str, Profile] = {
    "FI-101": Profile(420, 30, {"feed": 0.85}),
    "TI-101": Profile(352, 4, {"heat": 0.6, "feed": -0.1}),
    "PI-102": Profile(1.2, 0.08, {"feed": 0.3, "amb": 0.3}),
    "TI-102": Profile(118, 4, {"heat": 0.4, "qual": 0.3, "amb": 0.1}),
    "TI-103": Profile(345, 4, {"heat": 0.65, "feed": -0.1}),
    "LI-101": Profile(50, 10, {}),
    "FI-102": Profile(2400, 200, {"feed": 0.55, "heat": 0.3}),
    "AI-101": Profile(3.0, 0.6, {"dem": -0.2}),
    "TI-104": Profile(32, 4, {"amb": 0.7}),
    "PI-104": Profile(24.0, 1.0, {"feed": -0.45}),
    "FI-105": Profile(21, 2, {"feed": 0.75}),
    "TI-106": Profile(135, 4, {"feed": -0.3, "amb": 0.2}),
    "PI-106": Profile(12.5, 0.5, {"feed": -0.3}),
    "LI-106": Profile(40, 6, {}),
    "II-106": Profile(55, 8, {"qual": 0.4}),
    "PDI-111": Profile(180, 18, {"feed": 0.85}),
    "PDI-112": Profile(150, 15, {"feed": 0.85}),
    "TI-111": Profile(118, 4, {"feed": -0.3, "amb": 0.2}),
    "TI-112": Profile(262, 5, {"feed": -0.35, "heat": 0.2}),
    "TI-113": Profile(340, 4, {"heat": 0.6}),
    "TI-114": Profile(160, 6, {"feed": 0.4}),
    "TI-201": Profile(352, 4.5, {"heat": 0.6, "feed": -0.1}),
    "TI-202": Profile(351, 4.5, {"heat": 0.6, "feed": -0.1}),
    "TI-203": Profile(353, 4.5, {"heat": 0.6, "feed": -0.1}),
    "TI-204": Profile(352, 4.5, {"heat": 0.6, "feed": -0.1}),
    "FI-201": Profile(105, 8, {"feed": 0.8}),
    "FI-202": Profile(105, 8, {"feed": 0.8}),
    "FI-203": Profile(105, 8, {"feed": 0.8}),
    "FI-204": Profile(105, 8, {"feed": 0.8}),
    "TI-205": Profile(780, 15, {"feed": 0.5, "heat": 0.3}),
    "TI-206": Profile(185, 8, {"feed": 0.5, "amb": 0.2}),
    "TI-207": Profile(455, 10, {"feed": 0.3, "heat": 0.5}),
    "PI-205": Profile(1.6, 0.15, {"feed": 0.55, "heat": 0.3}),
    "PI-206": Profile(-2.5, 0.4, {"dem": 0.2}),
    "AI-206": Profile(40, 15, {"dem": 0.2}),
    "TI-301": Profile(205, 4, {"heat": 0.5, "qual": 0.2}),
    "TI-302": Profile(275, 4, {"heat": 0.55, "qual": 0.2}),
    "TI-303": Profile(320, 4, {"heat": 0.6}),
    "TI-304": Profile(338, 4, {"heat": 0.6}),
    "PDI-301": Profile(32, 3, {"feed": 0.8}),
    "FI-301": Profile(180, 15, {"feed": 0.6, "amb": 0.2}),
    "FI-302": Profile(5200, 300, {"feed": 0.6}),
    "FI-303": Profile(310, 20, {"feed": 0.5}),
    "TI-305": Profile(95, 4, {"amb": 0.5}),
    "FI-304": Profile(260, 18, {"feed": 0.5}),
    "LI-302": Profile(55, 8, {}),
    "FI-305": Profile(190, 15, {"feed": 0.8}),
    "FI-401": Profile(75, 6, {"feed": 0.75, "qual": 0.1}),
    "FI-402": Profile(62, 5, {"feed": 0.75}),
    "FI-403": Profile(95, 7, {"feed": 0.75}),
    "FI-404": Profile(38, 3, {"feed": 0.7}),
    "LI-402": Profile(50, 9, {}),
    "LI-403": Profile(50, 9, {}),
    "LI-404": Profile(50, 9, {}),
    "TI-402": Profile(42, 4, {"amb": 0.7}),
    "TI-403": Profile(48, 4, {"amb": 0.7}),
    "TI-501": Profile(52, 5, {"amb": 0.8}),
    "PI-501": Profile(0.85, 0.07, {"feed": 0.3, "amb": 0.3}),
    "LI-501": Profile(50, 8, {}),
    "FI-502": Profile(950, 90, {"feed": 0.6, "qual": 0.2}),
    "AI-501": Profile(6.2, 0.3, {}),
    "PI-601": Profile(40, 1.0, {"dem": -0.3}),
    "TI-601": Profile(395, 5, {"dem": -0.2}),
    "FI-601": Profile(48, 5, {"dem": 0.6, "amb": -0.2}),
    "PI-602": Profile(4.5, 0.3, {"dem": -0.3}),
    "TI-602": Profile(26, 2.5, {"amb": 0.8}),
    "TI-603": Profile(36, 3, {"amb": 0.6, "feed": 0.3}),
    "PI-603": Profile(4.2, 0.25, {"dem": -0.3}),
    "FI-603": Profile(5200, 300, {"dem": 0.4}),
    "PI-604": Profile(7.0, 0.25, {}),
    "AI-604": Profile(-40, 3, {"amb": 0.3}),
    "PI-605": Profile(3.5, 0.2, {"dem": -0.3}),
    "FI-606": Profile(120, 40, {}, noise=0.08),
    "AI-607": Profile(0.5, 0.4, {}, noise=0.1),
    "JI-609": Profile(3800, 250, {"feed": 0.6, "dem": 0.2}),
    "TI-610": Profile(18, 6, {"amb": 0.9}, noise=0.02),
    "VI-701": Profile(2.8, 0.6, {"feed": 0.6}),
    "VI-702": Profile(2.4, 0.5, {"feed": 0.6}),
    "II-701": Profile(310, 20, {"feed": 0.8}),
    "TI-701": Profile(85, 6, {"feed": 0.5, "amb": 0.3}),
    "VI-703": Profile(3.1, 0.6, {"feed": 0.6}),
    "VI-704": Profile(2.2, 0.5, {"feed": 0.5}),
    "VI-705": Profile(1.9, 0.4, {"feed": 0.5}),
    "VI-706": Profile(28, 5, {"feed": 0.5}),
    "SI-706": Profile(9800, 120, {"feed": 0.6}),
    "AI-801": Profile(32.5, 1.0, {"qual": 0.8}),
    "AI-802": Profile(1.4, 0.12, {"qual": -0.8}),
    "AI-803": Profile(1.2, 0.35, {"qual": 0.4}),
    "AI-804": Profile(0.15, 0.05, {"qual": 0.3}),
    "AI-805": Profile(165, 4, {"heat": 0.3, "qual": 0.4}),
    "AI-806": Profile(45, 2.5, {"heat": 0.3, "qual": -0.3}),
    "AI-807": Profile(-52, 2.5, {"heat": 0.4}),
    "AI-808": Profile(355, 5, {"heat": 0.5}),
    "AI-809": Profile(-6, 2, {"heat": 0.5}),
    "AI-810": Profile(6500, 600, {"qual": -0.7}),
    "AI-811": Profile(6.5, 1.2, {"heat": -0.6}),
    "AI-812": Profile(12, 4, {"qual": 0.4}),
    "AI-813": Profile(0.4, 0.15, {}),
    "AI-814": Profile(2.0, 0.6, {}),
    "AI-815": Profile(7.8, 0.25, {"amb": 0.2}),
}


def profile_for(spec: SensorSpec) -> Profile:
    """The profile of a catalogued sensor: the shipped table's, else one derived from its limits.

    >>> from schemas.catalog import SensorSpec
    >>> profile_for(SensorSpec(name="X-1", unit="bar", description="x", low=4.0, high=6.0))
    Profile(nominal=5.0, spread=0.625, gains={}, noise=0.04, wander=0.3)
    """
    known = SHIPPED_PROFILES.get(spec.name)
    if known is not None:
        return known
    return _profile_from_limits(spec)


def _profile_from_limits(spec: SensorSpec) -> Profile:
    """Place the operating band well inside whatever limits the sensor has."""
    lower = spec.low if spec.low is not None else spec.low_low
    upper = spec.high if spec.high is not None else spec.high_high
    if lower is not None and upper is not None:
        nominal, spread = (lower + upper) / 2, (upper - lower) / 3.2
    elif upper is not None:
        spread = abs(upper) * 0.1 or 1.0
        nominal = upper - 2.5 * spread
    elif lower is not None:
        spread = abs(lower) * 0.1 or 1.0
        nominal = lower + 2.5 * spread
    else:
        nominal, spread = 50.0, 5.0
    return Profile(nominal, spread, {}, wander=0.3)
