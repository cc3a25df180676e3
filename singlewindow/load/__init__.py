"""`singlewindow load`: open- and closed-model load through the gateway, measured end to end."""
