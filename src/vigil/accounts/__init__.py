"""The marketplace's users as Vigil knows them: profiles, identifiers, restrictions."""
