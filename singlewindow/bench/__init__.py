"""`singlewindow bench`: the system's sustained throughput beside the broker's raw chain."""
