"""Quality assurance of decisions: samples reviewed blind and scored, agreement and Cohen's
kappa per reviewer, queue and policy, and calibration sets of gold cases."""
