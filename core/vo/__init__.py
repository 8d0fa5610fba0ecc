"""Visual odometry: front-ends, back-end, evaluation (no Qt)."""
