"""DAKD training: SAR-JointNet, soft-label generation, SAROSS-Net with CE + Dice + KD, metrics, FID/KID."""
