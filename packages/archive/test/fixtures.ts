/** Where the reference archives made by real duplicity 0.8.22 live (read-only). */
export const FIXTURES = process.env.DUPLICITY_FIXTURES ?? '/work/shared/fixtures/duplicity-0.8.22';
