"""Sending: the deliveries queue, the render-and-send pipeline."""
