"""The product's rules, declared once: Ticketed Spaces (prices, who may sell, the split) and
the roles of a room. The simulation and the media server both import them from here."""
