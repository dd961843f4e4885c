"""The HTTP surface in front of the steps: pages, the transaction cookie, rendering."""
