// The loader's exports are the generated binding's.
import binding = require('./index.js')
export = binding
