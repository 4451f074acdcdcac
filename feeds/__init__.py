"""The pure core: article model, feed membership, rendering, share payloads. No I/O."""
