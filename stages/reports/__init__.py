"""What curves and evaluate report: train's history, the test metrics, the PNG figures."""
