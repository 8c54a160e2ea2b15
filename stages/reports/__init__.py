"""What evaluate reports: the test metrics, train's history, and the PNG figures."""
