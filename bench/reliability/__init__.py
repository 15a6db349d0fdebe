"""The fault suite (``make reliability``, ``python -m bench.reliability``): every failure the analyzer
must survive, against real processes and a Redis server it starts itself (persistence on).

Each scenario lands the same simulated day (ids at the reading times, so every run holds the same
entries), runs ``sensor-analyzer worker`` processes against it while a fault is injected, waits
until the consumer group has nothing left, and reads back what was stored and dead-lettered. The
summary table gives, per scenario: entries landed, results stored, lost (neither stored nor
dead-lettered), duplicated (an entry dead-lettered twice, or counted twice in an alarm), dead
letters, the recovery time after the fault ended, and whether the verdicts (status and alarm ids of
every entry) are identical to the one-worker run without faults.
"""
