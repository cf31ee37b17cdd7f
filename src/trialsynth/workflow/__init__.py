"""The steps of a review: running a review folder, de-duplication, screening, dual extraction,
PRISMA counts from the record store, the RevMan comparison."""
