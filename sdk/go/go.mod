module epochd.dev/epochd

go 1.24
