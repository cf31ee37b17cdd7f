"""Work on the search records of a review: de-duplication, dual extraction, PRISMA counts."""
