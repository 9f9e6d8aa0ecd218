//go:build race

package broker_test

// raceEnabled shrinks the data volume of the heaviest scenarios: the race
// detector makes each frame many times slower, not the behaviour different.
const raceEnabled = true
