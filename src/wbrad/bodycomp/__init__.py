"""Body composition at L3 and L1-L5 (muscle, visceral and subcutaneous fat) and organ volumes."""
