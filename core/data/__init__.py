"""Image data: sources (folders, zips, arrays, digits, CelebA), the synthetic faces, image helpers."""
